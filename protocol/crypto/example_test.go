package crypto_test

import (
	"errors"
	"fmt"

	"github.com/cachekit-go/cachekit/protocol/crypto"
)

func Example() {
	master, err := crypto.ParseMasterKey("6161616161616161616161616161616161616161616161616161616161616161")
	if err != nil {
		panic(err)
	}
	aead, err := crypto.NewTenantAEAD(master, "cross-sdk-test")
	if err != nil {
		panic(err)
	}
	fmt.Println(aead.Fingerprint())

	aad := crypto.AAD("cross-sdk-test", "users:get_user:42", "msgpack", false, "")
	sealed := aead.Seal([]byte{0xa2, 'h', 'i'}, aad)
	plain, err := aead.Open(sealed, aad)
	fmt.Printf("%d %x %v\n", len(sealed), plain, err)

	_, err = aead.Open(sealed, crypto.AAD("cross-sdk-test", "users:get_user:43", "msgpack", false, ""))
	fmt.Println(errors.Is(err, crypto.ErrAuthentication))
	// Output:
	// 96179a9bc881aa7ca83f04b78a66afd3
	// 31 a26869 <nil>
	// true
}

func ExampleParseMasterKey() {
	_, err := crypto.ParseMasterKey("not-a-key")
	fmt.Println(err)
	// Output: crypto: invalid master key: odd number of hex digits (9)
}
