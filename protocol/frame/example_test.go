package frame_test

import (
	"fmt"

	"github.com/cachekit-go/cachekit/protocol/envelope"
	"github.com/cachekit-go/cachekit/protocol/frame"
)

func Example() {
	env, _ := envelope.Pack([]byte{0xa2, 'h', 'i'}) // MessagePack "hi" in an envelope
	stored, err := frame.Encode(frame.DefaultHeader(true), env)
	if err != nil {
		panic(err)
	}
	fmt.Printf("%q\n", stored[7:7+125])

	h, payload, err := frame.Decode(stored)
	if err != nil {
		panic(err)
	}
	data, err := envelope.Unpack(payload)
	fmt.Println(h.Serializer, h.Compressed, data, err)
	// Output:
	// "{\"s\": \"default\", \"m\": {\"format\": \"msgpack\", \"encoding\": \"utf-8\", \"compressed\": true, \"original_type\": \"msgpack\"}, \"v\": \"2.0\"}"
	// default true [162 104 105] <nil>
}

func ExampleClassify() {
	env, _ := envelope.Pack([]byte{0x01})
	framed, _ := frame.Encode(frame.DefaultHeader(true), env)
	fmt.Println(frame.Classify(framed), frame.Classify(env), frame.Classify([]byte{0x01}))
	// Output: frame envelope raw-msgpack
}
