package keys

import (
	"fmt"
	"unicode/utf8"
)

const (
	// MinPassphraseLength is the minimum passphrase length in characters
	// (Unicode code points, not bytes).
	MinPassphraseLength = 12
	// MinPassphraseScore is the lowest [Strength.Score] accepted.
	MinPassphraseScore = 2
)

// Strength is a passphrase strength estimate, meant for a live meter.
type Strength struct {
	// Score runs from 0 (very weak) to 4 (strong). [CheckPassphrase]
	// accepts a passphrase exactly when Score >= [MinPassphraseScore].
	Score int
	// Label is the score in words: "very weak", "weak", "fair", "good" or
	// "strong".
	Label string
	// Reason is a short, user-facing explanation or hint. It never quotes
	// the passphrase.
	Reason string
	// Bits is the rough estimate behind Score, in bits of guessing work.
	Bits float64
}

// strengthLabels are indexed by score.
var strengthLabels = [5]string{"very weak", "weak", "fair", "good", "strong"}

// CheckPassphrase applies the passphrase policy and estimates strength. It
// always returns the estimate, so a UI can update a meter on every keystroke
// (it takes microseconds), and returns an error saying why the passphrase is
// refused, checked in this order: fewer than [MinPassphraseLength]
// characters ([ErrPassphraseTooShort]); a well-known password or phrase or a
// trivial variation of one ([ErrPassphraseTooCommon]); one character
// repeated ([ErrPassphraseRepetitive]); a score below [MinPassphraseScore]
// ([ErrPassphraseTooWeak]). When it returns an error, Score is below
// MinPassphraseScore, so meter and verdict never disagree.
//
// The estimate is a heuristic, not a guarantee: it knows only a small list of
// common words. The real protection against offline guessing is argon2id.
func CheckPassphrase(p string) (Strength, error) {
	s := estimateStrength(p)
	n := utf8.RuneCountInString(p)
	switch {
	case n < MinPassphraseLength:
		more := MinPassphraseLength - n
		s = s.refused(1, fmt.Sprintf("too short: %d more %s needed", more, plural(more, "character", "characters")))
		return s, fmt.Errorf("%w: %d of at least %d characters; %d more needed",
			ErrPassphraseTooShort, n, MinPassphraseLength, more)
	case isCommonPassphrase(p):
		s = s.refused(0, "a well-known password or phrase")
		return s, fmt.Errorf("%w: it is a well-known password or phrase, or a simple variation of one", ErrPassphraseTooCommon)
	case oneCharacter(p):
		s = s.refused(0, "one character repeated")
		return s, ErrPassphraseRepetitive
	case s.Score < MinPassphraseScore:
		return s, fmt.Errorf("%w: rated %q: %s", ErrPassphraseTooWeak, s.Label, s.Reason)
	}
	return s, nil
}

// refused caps the score at most (below [MinPassphraseScore]) and replaces
// the reason, so the meter shows why the passphrase is not accepted.
func (s Strength) refused(most int, reason string) Strength {
	if s.Score > most {
		s.Score = most
	}
	s.Label = strengthLabels[s.Score]
	s.Reason = reason
	return s
}

// oneCharacter reports whether p consists of a single character repeated.
func oneCharacter(p string) bool {
	first, size := utf8.DecodeRuneInString(p)
	for _, r := range p[size:] {
		if r != first {
			return false
		}
	}
	return p != ""
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
