package scimserver

import (
	"bytes"
	"encoding/json"
	"strings"
)

// duplicateName finds a name that appears twice in one JSON object of body, compared
// without regard to case (SCIM attribute names are case-insensitive), and returns it, or
// "" if there is none. Decoding into a map keeps only one of two equal names, so the
// check reads the tokens before the body is decoded; "userName" twice in one object would
// otherwise store whichever came last without a word.
func duplicateName(body []byte) string {
	dec := json.NewDecoder(bytes.NewReader(body))
	type frame struct {
		object  bool
		wantKey bool
		seen    map[string]bool
	}
	var stack []frame
	for {
		tok, err := dec.Token()
		if err != nil {
			return "" // malformed JSON is the decoder's to report
		}
		var top *frame
		if len(stack) > 0 {
			top = &stack[len(stack)-1]
		}
		if top != nil && top.object && top.wantKey {
			if name, ok := tok.(string); ok {
				k := strings.ToLower(name)
				if top.seen[k] {
					return name
				}
				top.seen[k] = true
				top.wantKey = false
				continue
			}
		}
		switch tok {
		case json.Delim('{'):
			if top != nil && top.object {
				top.wantKey = true // this object is the value of the key just read
			}
			stack = append(stack, frame{object: true, wantKey: true, seen: map[string]bool{}})
			continue
		case json.Delim('['):
			if top != nil && top.object {
				top.wantKey = true
			}
			stack = append(stack, frame{})
			continue
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
			if len(stack) == 0 {
				return ""
			}
			continue
		}
		if top != nil && top.object {
			top.wantKey = true // a scalar value was read: a key comes next
		}
	}
}
