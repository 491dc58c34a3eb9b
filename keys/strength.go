package keys

import (
	"math"
	"unicode"
)

// The estimator is a small cousin of zxcvbn. It walks the passphrase once,
// left to right, and at each position charges the cheapest of: one character
// on its own (by character class), a word from the common list, a run of
// the same character, a sequence (abc, 321, qwerty), or a repeat of an
// earlier stretch. The total is a rough count of bits an attacker who knows
// these tricks must guess. It looks only at the first analysisLimit
// characters and uses fixed-size arrays, so a call costs microseconds and
// does not grow with pasted input.

// analysisLimit caps how many characters are analysed. Characters beyond it
// add nothing, which errs on the side of caution; 128 characters of
// non-repetitive text already score "strong" many times over.
const analysisLimit = 128

// scoreThresholds are the bit counts needed for scores 1 to 4. With the
// default argon2id parameters (~150 ms per guess per core), the accepted
// minimum of 40 bits is thousands of core-years of guessing; 64 bits is out
// of reach. They are deliberately stricter than zxcvbn's, which are tuned
// for online attacks rather than a stolen database.
var scoreThresholds = [4]float64{30, 40, 50, 64}

// patterns found while estimating, used to pick the reason shown to the user.
type pattern uint8

const (
	patWord pattern = 1 << iota
	patSequence
	patRepeat
	patEcho
)

// Bits charged per character, by class.
var (
	bitsLetter    = math.Log2(26)
	bitsDigit     = math.Log2(10)
	bitsSymbol    = math.Log2(33) // ASCII punctuation and space
	bitsIntlAlpha = 6.0           // non-ASCII letters: larger alphabets
	bitsIntlOther = 7.0           // anything else, e.g. emoji
)

func charBits(r rune) float64 {
	switch {
	case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
		return bitsLetter
	case r >= '0' && r <= '9':
		return bitsDigit
	case r < 0x80:
		return bitsSymbol
	case unicode.IsLetter(r):
		return bitsIntlAlpha
	}
	return bitsIntlOther
}

// estimateStrength computes the strength estimate alone, without the policy
// checks of [CheckPassphrase].
func estimateStrength(p string) Strength {
	var (
		runes      [analysisLimit]rune
		low        [analysisLimit]rune // case-folded, for repeats and sequences
		keyI, keyL [analysisLimit]byte // leet-folded ASCII, for word lookups
		cum        [analysisLimit + 1]float64
	)
	n := 0
	for _, r := range p {
		if n == analysisLimit {
			break
		}
		runes[n] = r
		low[n] = unicode.ToLower(r)
		keyI[n], keyL[n] = leetFold(low[n])
		cum[n+1] = cum[n] + charBits(r)
		n++
	}

	bits := 0.0
	var found pattern
	for i := 0; i < n; {
		// Default: this character on its own.
		bestLen, bestCost, bestPat, bestSave := 1, cum[i+1]-cum[i], pattern(0), 0.0
		consider := func(l int, cost float64, pat pattern) {
			if save := cum[i+l] - cum[i] - cost; save > bestSave {
				bestLen, bestCost, bestPat, bestSave = l, cost, pat, save
			}
		}
		if l := wordAt(keyI[:n], keyL[:n], i); l > 0 {
			consider(l, wordCost(runes[i:i+l]), patWord)
		}
		if l := repeatRun(low[:n], i); l >= 3 {
			consider(l, charBits(runes[i])+math.Log2(float64(l)), patRepeat)
		}
		if l := sequenceRun(low[:n], i); l >= 3 {
			// One bit for the direction.
			consider(l, charBits(runes[i])+1+math.Log2(float64(l)), patSequence)
		}
		if l := echoAt(low[:n], i); l >= 3 {
			// Where the earlier copy starts, and how long it is.
			consider(l, 1+math.Log2(float64(i))+math.Log2(float64(l)), patEcho)
		}
		bits += bestCost
		found |= bestPat
		i += bestLen
	}

	score := 0
	for _, t := range scoreThresholds {
		if bits >= t {
			score++
		}
	}
	return Strength{Score: score, Label: strengthLabels[score], Reason: strengthReason(score, found), Bits: bits}
}

func strengthReason(score int, found pattern) string {
	switch {
	case score == len(scoreThresholds):
		return "long and hard to guess"
	case found&patWord != 0:
		return "contains a common word or password"
	case found&patSequence != 0:
		return "contains a sequence like abc, 123 or qwerty"
	case found&patRepeat != 0:
		return "contains repeated characters"
	case found&patEcho != 0:
		return "repeats part of itself"
	case score == len(scoreThresholds)-1:
		return "good; a little longer makes it strong"
	}
	return "add more words or characters"
}

// wordCost charges a dictionary word by its rank in a short list, plus a bit
// each for capitals and for look-alike substitutions (p@ssw0rd), which
// attackers try early.
func wordCost(span []rune) float64 {
	cost := commonWordBits
	var upper, subst bool
	for _, r := range span {
		upper = upper || unicode.IsUpper(r)
		subst = subst || !unicode.IsLetter(r)
	}
	if upper {
		cost++
	}
	if subst {
		cost++
	}
	return cost
}

// wordAt returns the length of the longest common word starting at i, or 0.
func wordAt(keyI, keyL []byte, i int) int {
	n := len(keyI)
	if n-i < minWordLen {
		return 0
	}
	// Most positions start no word; a 4-byte prefix check skips them
	// without the longer lookups.
	_, okI := wordPrefixes[[minWordLen]byte(keyI[i:])]
	_, okL := wordPrefixes[[minWordLen]byte(keyL[i:])]
	if !okI && !okL {
		return 0
	}
	for l := min(maxWordLen, n-i); l >= minWordLen; l-- {
		if _, ok := wordsI[string(keyI[i:i+l])]; ok {
			return l
		}
		if _, ok := wordsL[string(keyL[i:i+l])]; ok {
			return l
		}
	}
	return 0
}

// repeatRun returns how many times low[i] repeats from i (aaaa).
func repeatRun(low []rune, i int) int {
	l := 1
	for i+l < len(low) && low[i+l] == low[i] {
		l++
	}
	return l
}

// sequenceRun returns the length of the run of neighbouring characters that
// starts at i: alphabet or digit neighbours (abc, 987) or keyboard
// neighbours on one row (qwerty, asdf, 7890).
func sequenceRun(low []rune, i int) int {
	l := 1
	for i+l < len(low) && adjacent(low[i+l-1], low[i+l]) {
		l++
	}
	return l
}

func adjacent(a, b rune) bool {
	if d := a - b; d == 1 || d == -1 {
		if (unicode.IsLetter(a) && unicode.IsLetter(b)) || (unicode.IsDigit(a) && unicode.IsDigit(b)) {
			return true
		}
	}
	if a < 0x80 && b < 0x80 {
		ka, kb := keyboard[a], keyboard[b]
		if ka.row != 0 && ka.row == kb.row {
			if d := ka.col - kb.col; d == 1 || d == -1 {
				return true
			}
		}
	}
	return false
}

// echoAt returns the length of the longest stretch starting at i that
// already occurred earlier (hunter2hunter2).
func echoAt(low []rune, i int) int {
	best := 0
	for j := 0; j < i; j++ {
		l := 0
		for i+l < len(low) && low[j+l] == low[i+l] {
			l++
		}
		best = max(best, l)
	}
	return best
}

// keyPos is a key's row (1-based; 0 means not on the map) and column on a
// US keyboard.
type keyPos struct{ row, col int8 }

var keyboard = func() (t [128]keyPos) {
	rows := [][2]string{
		{"`1234567890-=", "~!@#$%^&*()_+"},
		{"qwertyuiop[]\\", "QWERTYUIOP{}|"},
		{"asdfghjkl;'", "ASDFGHJKL:\""},
		{"zxcvbnm,./", "ZXCVBNM<>?"},
	}
	for r, pair := range rows {
		for _, row := range pair {
			for c, ch := range []byte(row) {
				t[ch] = keyPos{row: int8(r + 1), col: int8(c)}
			}
		}
	}
	return t
}()

// leetFold maps a case-folded rune to the ASCII bytes used for word
// lookups, undoing common look-alike substitutions. '1' and '!' can stand
// for i or l, so there are two foldings. Non-ASCII runes become 0, which
// matches no word.
func leetFold(r rune) (i, l byte) {
	if r >= 0x80 {
		return 0, 0
	}
	switch r {
	case '0':
		return 'o', 'o'
	case '1', '!', '|':
		return 'i', 'l'
	case '3':
		return 'e', 'e'
	case '4', '@':
		return 'a', 'a'
	case '5', '$':
		return 's', 's'
	case '7', '+':
		return 't', 't'
	case '8':
		return 'b', 'b'
	}
	return byte(r), byte(r)
}
