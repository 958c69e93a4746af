package schema_test

import (
	"errors"
	"fmt"

	"github.com/osohost/osohost/host/schema"
)

func ExampleDecodeDocumentList() {
	body := []byte(`{"documents":[{"id":"a1","content":"tx","metadata":{"fee":1e-05,"memo":"café"}}],"count":"1"}`)
	l, err := schema.DecodeDocumentList(body, schema.DefaultLimits)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(l.Count, l.Documents[0].Metadata)
	fmt.Printf("%s\n", schema.AppendDocumentListJSON(nil, l.Documents))
	// Output:
	// 1 {"fee": 1e-05, "memo": "caf\u00e9"}
	// {"documents":[{"id":"a1","content":"tx","metadata":"{\"fee\": 1e-05, \"memo\": \"caf\\u00e9\"}"}],"count":1}
}

func ExampleValidationError() {
	_, err := schema.DecodeDocumentList([]byte(`{"documents":[{"id":"a","content":42}],"count":1}`), schema.DefaultLimits)
	var ve *schema.ValidationError
	if errors.As(err, &ve) {
		fmt.Println(ve.Field, "|", ve.Reason)
	}
	fmt.Println(errors.Is(err, schema.ErrInvalid))
	// Output:
	// documents[0].content | must be a string
	// true
}
