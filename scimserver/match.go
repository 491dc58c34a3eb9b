package scimserver

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	filter "github.com/scim2/filter-parser/v2"
)

// matchValue evaluates a value filter (the part in brackets of emails[type eq "work"]) on
// one element of a multi-valued attribute a. It is used by PATCH, in memory, on the
// few elements a resource has.
func matchValue(e filter.Expression, a *attr, elem any) (bool, *Error) {
	obj, _ := elem.(map[string]any)
	return matchWith(e, a, func(name string) any { return obj[name] })
}

// matchWith evaluates a value filter on an element whose sub-attributes (by canonical
// name) get returns: a stored map, or a group member read from the database.
func matchWith(e filter.Expression, a *attr, get func(string) any) (bool, *Error) {
	switch x := e.(type) {
	case *filter.LogicalExpression:
		l, err := matchWith(x.Left, a, get)
		if err != nil {
			return false, err
		}
		if x.Operator == filter.AND && !l {
			return false, nil
		}
		if x.Operator == filter.OR && l {
			return true, nil
		}
		return matchWith(x.Right, a, get)
	case *filter.NotExpression:
		m, err := matchWith(x.Expression, a, get)
		return !m, err
	case *filter.AttributeExpression:
		name := x.AttributePath.AttributeName
		if x.AttributePath.SubAttribute != nil {
			name = *x.AttributePath.SubAttribute
		}
		sub := a.sub(name)
		if sub == nil {
			return false, badRequest(errInvalidPath, "%s has no sub-attribute %q", a.Name, name)
		}
		return compare(sub, get(sub.Name), x.Operator, x.CompareValue)
	}
	return false, badRequest(errInvalidPath, "unsupported value filter in path")
}

// compare applies one comparison of RFC 7644 §3.4.2.2 to an attribute's value.
func compare(a *attr, have any, op filter.CompareOperator, want any) (bool, *Error) {
	op = filter.CompareOperator(strings.ToLower(string(op)))
	if op == filter.PR {
		return !isEmpty(have), nil
	}
	if have == nil {
		return op == filter.NE, nil
	}
	switch a.Type {
	case typeBoolean:
		hb, _ := have.(bool)
		wb, err := coerceBool(a.Name, want)
		if err != nil {
			return false, badRequest(errInvalidFilter, "%s compares with a boolean", a.Name)
		}
		switch op {
		case filter.EQ:
			return hb == wb.(bool), nil
		case filter.NE:
			return hb != wb.(bool), nil
		}
		return false, badRequest(errInvalidFilter, "%s is a boolean: only eq, ne and pr apply", a.Name)
	case typeInteger, typeDecimal:
		hf, _ := have.(float64)
		wf, ok := toFloat(want)
		if !ok {
			return false, badRequest(errInvalidFilter, "%s compares with a number", a.Name)
		}
		return ordered(op, cmpFloat(hf, wf), a.Name)
	case typeDateTime:
		hs, _ := have.(string)
		ws, _ := want.(string)
		ht, err1 := time.Parse(time.RFC3339Nano, hs)
		wt, err2 := time.Parse(time.RFC3339Nano, ws)
		if err1 != nil || err2 != nil {
			return false, badRequest(errInvalidFilter, "%s compares with a dateTime", a.Name)
		}
		return ordered(op, ht.Compare(wt), a.Name)
	}
	hs, ok := have.(string)
	if !ok {
		hs = fmt.Sprint(have)
	}
	ws, ok := want.(string)
	if !ok {
		ws = fmt.Sprint(want)
	}
	if !a.CaseExact {
		hs, ws = strings.ToLower(hs), strings.ToLower(ws)
	}
	switch op {
	case filter.CO:
		return strings.Contains(hs, ws), nil
	case filter.SW:
		return strings.HasPrefix(hs, ws), nil
	case filter.EW:
		return strings.HasSuffix(hs, ws), nil
	}
	return ordered(op, strings.Compare(hs, ws), a.Name)
}

func ordered(op filter.CompareOperator, c int, name string) (bool, *Error) {
	switch op {
	case filter.EQ:
		return c == 0, nil
	case filter.NE:
		return c != 0, nil
	case filter.GT:
		return c > 0, nil
	case filter.GE:
		return c >= 0, nil
	case filter.LT:
		return c < 0, nil
	case filter.LE:
		return c <= 0, nil
	}
	return false, badRequest(errInvalidFilter, "operator %q does not apply to %s", op, name)
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func toFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case int:
		return float64(x), true
	case string:
		f, err := strconv.ParseFloat(x, 64)
		return f, err == nil
	}
	return 0, false
}

// equalities collects the attr eq "value" comparisons of a value filter joined by and:
// when a PATCH add with a filtered path (emails[type eq "work"].value) finds no element,
// the new element is made with these, which is what Entra ID expects.
func equalities(e filter.Expression, out map[string]any) {
	switch x := e.(type) {
	case *filter.LogicalExpression:
		if x.Operator == filter.AND {
			equalities(x.Left, out)
			equalities(x.Right, out)
		}
	case *filter.AttributeExpression:
		if strings.EqualFold(string(x.Operator), string(filter.EQ)) {
			name := x.AttributePath.AttributeName
			if x.AttributePath.SubAttribute != nil {
				name = *x.AttributePath.SubAttribute
			}
			out[name] = x.CompareValue
		}
	}
}
