package envelope_test

import (
	"errors"
	"fmt"

	"github.com/cachekit-go/cachekit/protocol/envelope"
)

func Example() {
	env, err := envelope.Pack([]byte("hello, cachekit!"))
	if err != nil {
		panic(err)
	}
	fmt.Printf("%x\n", env)

	data, err := envelope.Unpack(env)
	fmt.Printf("%s %v\n", data, err)

	env[len(env)-12] ^= 1 // corrupt the stored checksum
	_, err = envelope.Unpack(env)
	fmt.Println(errors.Is(err, envelope.ErrChecksum))
	// Output:
	// 94c412f00168656c6c6f2c2063616368656b697421986dcc8a34ccb63a3c52ccd310a76d73677061636b
	// hello, cachekit! <nil>
	// true
}
