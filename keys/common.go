package keys

import (
	"bytes"
	"math"
	"strings"
	"unicode"
)

// commonList holds very common passwords, words people build passwords from,
// and famous passphrases, lowercase and without spaces. It is deliberately
// short (a few hundred entries): enough to catch the obvious choices at a
// negligible binary-size and start-up cost, not a replacement for a real
// cracking dictionary.
const commonList = `
password passw0rd password1 mypassword newpassword passphrase mypassphrase
secret letmein welcome login admin administrator root guest default changeme
test testing qwerty qwertyuiop qwertyuiopasdfghjkl asdfgh asdfghjkl zxcvbn
zxcvbnm qazwsx qazwsxedc 1qaz2wsx 1q2w3e4r 1q2w3e4r5t zaq12wsx abc123 abcdef
abcdefg 123abc 123456 1234567 12345678 123456789 1234567890 0987654321 123123
111111 000000 654321 696969 iloveyou iloveu ilovegod loveme lovely love
monkey dragon master shadow sunshine princess football baseball basketball
soccer hockey superman batman spiderman starwars pokemon minecraft fortnite
whatever freedom trustno1 trustno hello hellohello hello123 helloworld charlie
michael jordan jennifer jessica ashley daniel thomas robert george andrew
joshua matthew nicole hannah amanda michelle hunter hunter2 ranger buster
tigger ginger pepper cookie chocolate cheese banana orange apple cherry flower
angel angels summer winter spring autumn monday tuesday wednesday thursday
friday saturday sunday january february march april june july august
september october november december mustang ferrari porsche corvette harley
yamaha maverick cowboy cowboys chelsea arsenal liverpool barcelona madrid
london paris berlin america canada family forever friends friend internet
computer google facebook twitter linkedin microsoft windows linux samsung
iphone android matrix killer nintendo playstation xbox silver golden diamond
purple yellow blue green black white access private company office business
money dollar success lucky blessed jesus christ heaven qwerty123 passpass
letmein123 welcome1 admin123 root123 test123 pass1234 secret123 sparky snoopy
baby babygirl dolphin butterfly peanut jasmine maggie buddy bailey shadow1
scimdesk desk scim
correcthorsebatterystaple thequickbrownfoxjumpsoverthelazydog
maytheforcebewithyou tobeornottobe opensesame iloveyousomuch letmeinplease
nevergonnagiveyouup ihateyou trustnoone thisismypassword thisismypassphrase
changemenow donotforget dontforget rememberme
`

const (
	// minWordLen is the shortest entry looked for inside a passphrase;
	// shorter ones would match by accident in random text.
	minWordLen = 4
)

var (
	// commonI and commonL are the whole entries under the two leet
	// foldings, for the "too common" check.
	commonI, commonL = map[string]struct{}{}, map[string]struct{}{}
	// wordsI and wordsL are the entries of at least minWordLen characters,
	// for finding words inside a passphrase; wordPrefixes are their first
	// minWordLen bytes.
	wordsI, wordsL = map[string]struct{}{}, map[string]struct{}{}
	wordPrefixes   = map[[minWordLen]byte]struct{}{}
	// maxWordLen is the longest entry in wordsI and wordsL.
	maxWordLen int
	// commonWordBits is the cost of one word: its index in the list.
	commonWordBits float64
)

func init() {
	entries := strings.Fields(commonList)
	for _, e := range entries {
		fi, fl := foldString(e)
		commonI[fi], commonL[fl] = struct{}{}, struct{}{}
		if len(fi) >= minWordLen && len(fl) >= minWordLen {
			wordsI[fi], wordsL[fl] = struct{}{}, struct{}{}
			wordPrefixes[[minWordLen]byte([]byte(fi))] = struct{}{}
			wordPrefixes[[minWordLen]byte([]byte(fl))] = struct{}{}
			maxWordLen = max(maxWordLen, len(e))
		}
	}
	commonWordBits = math.Log2(float64(len(entries)))
}

// foldRunes applies leetFold to every rune of rs and keeps only letters and
// digits, so spacing and punctuation do not hide a common entry. It writes
// the two foldings to bi and bl, which must be at least len(rs) long, and
// returns their lengths.
func foldRunes(rs []rune, bi, bl []byte) (ni, nl int) {
	for _, r := range rs {
		ci, cl := leetFold(unicode.ToLower(r))
		if isASCIIAlnum(ci) {
			bi[ni] = ci
			ni++
		}
		if isASCIIAlnum(cl) {
			bl[nl] = cl
			nl++
		}
	}
	return ni, nl
}

// foldString is foldRunes for a string, used to build the tables.
func foldString(s string) (i, l string) {
	rs := []rune(s)
	bi, bl := make([]byte, len(rs)), make([]byte, len(rs))
	ni, nl := foldRunes(rs, bi, bl)
	return string(bi[:ni]), string(bl[:nl])
}

func isASCIIAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
}

// isCommonPassphrase reports whether p is a common entry or a trivial
// variation: different case or spacing, look-alike substitutions, digits or
// symbols added before or after, or the entry repeated.
//
// Passphrases longer than analysisLimit characters are not checked: such a
// variation would have to be mostly repetition or decoration, which the
// strength estimate already rates as weak. The limit keeps the check cheap
// and allocation-free on every keystroke.
func isCommonPassphrase(p string) bool {
	var rs [analysisLimit]rune
	n := 0
	for _, r := range p {
		if n == analysisLimit {
			return false
		}
		rs[n] = r
		n++
	}
	// Digits and symbols around the letters are decoration (Password123!)
	// unless they stand for a letter (1loveyou, hell0), so try the string
	// with them removed, with all but the innermost one removed, and whole.
	lead := 0
	for lead < n && !unicode.IsLetter(rs[lead]) {
		lead++
	}
	trail := 0
	for trail < n-lead && !unicode.IsLetter(rs[n-1-trail]) {
		trail++
	}
	var bi, bl [analysisLimit]byte
	for _, start := range [3]int{0, lead, lead - 1} {
		for _, end := range [3]int{n, n - trail, n - trail + 1} {
			if start < 0 || end > n || start >= end {
				continue
			}
			ni, nl := foldRunes(rs[start:end], bi[:], bl[:])
			if isCommonFolded(bi[:ni], commonI) || isCommonFolded(bl[:nl], commonL) {
				return true
			}
		}
	}
	return false
}

// isCommonFolded reports whether the folded s is in set, or is an entry of
// set repeated.
func isCommonFolded(s []byte, set map[string]struct{}) bool {
	if len(s) == 0 {
		return false
	}
	if _, ok := set[string(s)]; ok {
		return true
	}
	if u := period(s); len(u) < len(s) {
		_, ok := set[string(u)]
		return ok
	}
	return false
}

// period returns the shortest u such that s is u repeated.
func period(s []byte) []byte {
	for n := 1; n <= len(s)/2; n++ {
		if len(s)%n == 0 && bytes.Equal(s[n:], s[:len(s)-n]) {
			return s[:n]
		}
	}
	return s
}
