package scimserver

import "testing"

func TestDuplicateName(t *testing.T) {
	for _, tc := range []struct{ body, want string }{
		{`{"a":1,"b":{"a":2},"c":[{"a":1},{"a":2}]}`, ""},
		{`{"a":1,"A":2}`, "A"},
		{`{"a":{"x":[1,{"y":1}],"y":2,"x":3}}`, "x"},
		{`{"a":[{"v":1,"w":{"v":2},"v":3}]}`, "v"},
		{`{"a":[],"b":{},"a":null}`, "a"},
		{`{"a":1,`, ""}, // malformed: the decoder reports it
	} {
		if got := duplicateName([]byte(tc.body)); got != tc.want {
			t.Errorf("duplicateName(%s) = %q, want %q", tc.body, got, tc.want)
		}
	}
}
