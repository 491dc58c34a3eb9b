package tui

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"charm.land/bubbles/v2/spinner"
	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"

	"scimdesk/db"
	"scimdesk/keys"
	"scimdesk/setupapi"
)

// The interactive `scimdesk setup` and `scimdesk recover`: a pending user signs in with the
// code from their admin, chooses a passphrase, and their terminal makes the key pair and
// wraps it; only the public key and the wrapped blobs go to the server. Nothing is stored
// until the user has shown, by typing part of it back, that they kept the recovery key.
// Every step can be retried in place: a refused code sends the user back to the code, an
// unreachable server to the URL, and a key already made is kept for the retry.

// SetupOptions configure the interactive flow.
type SetupOptions struct {
	// Purpose is db.PurposeSetup (a pending user creates their key) or db.PurposeRecover
	// (a ready user replaces a forgotten passphrase with their recovery key).
	Purpose string
	// Server, Email and Code prefill the sign-in form.
	Server, Email, Code string
	// CAFile is a PEM file of CA certificates to trust, for a server with a private CA.
	CAFile string
	// Params is the argon2id cost; zero means keys.DefaultParams(). It is raised to the
	// server's minimum in any case.
	Params keys.Params
	// Dir is where the recovery key file is proposed (default: the working directory).
	Dir string
}

// SetupResult is what the flow achieved.
type SetupResult struct {
	Done         bool   // the key is stored: the user is ready
	UserName     string // as the server knows the user
	Server       string // the server's URL
	RecoveryFile string // where the user saved the recovery key, if they did
	// Interrupted means the user quit while the key was on its way to the server, so it
	// may have been stored after all.
	Interrupted bool
}

// RunSetup runs the interactive flow on the terminal until it is done or the user quits.
func RunSetup(ctx context.Context, o SetupOptions) (SetupResult, error) {
	f := newSetupFlow(ctx, o)
	final, err := tea.NewProgram(f, tea.WithContext(ctx)).Run()
	if ff, ok := final.(*setupFlow); ok {
		f = ff
	}
	f.forget()
	if errors.Is(err, tea.ErrProgramKilled) && ctx.Err() != nil {
		err = nil // a signal through ctx: the user stopped it
	}
	return f.result, err
}

type setupFlowStep int

const (
	sfSignIn      setupFlowStep = iota // server, email, code
	sfChecking                         // begin in flight
	sfRecoveryKey                      // recover: type the recovery key
	sfPassphrase                       // the passphrase, twice
	sfDeriving                         // argon2id and the key pair
	sfShowKey                          // setup: the recovery key, once
	sfSaveKey                          // setup: where to save it
	sfConfirmKey                       // setup: type part of it back
	sfUploading                        // complete in flight
	sfDone
	sfDevice // sign-in with the identity provider (setupflow_signin.go)
)

// Sign-in fields, in order.
const (
	sfFieldServer = iota
	sfFieldEmail
	sfFieldCode
)

type setupFlow struct {
	ctx    context.Context
	opts   SetupOptions
	st     *setupFlowStyles
	width  int
	height int

	step    setupFlowStep
	signIn  [3]textinput.Model
	focus   int // the sign-in field with the keys
	rkIn    textinput.Model
	pass    [2]textinput.Model
	passAt  int // 0: passphrase, 1: again
	saveIn  textinput.Model
	confIn  textinput.Model
	spinner spinner.Model

	problem string // what went wrong, shown under the step; "" when all is well
	note    string // a success note (saved, copied)

	seq    int // numbers requests, so that an answer to an abandoned one is dropped
	client *setupapi.Client
	info   *setupapi.BeginResponse
	params keys.Params // what the key was or will be made with

	bundle  *keys.Bundle // made and not yet stored; kept for a retry
	forUser string       // the user id the bundle is bound to
	rk      keys.RecoveryKey
	rkText  string // shown once, dropped after the confirmation
	groups  [2]int // the groups of the key the confirmation asks for (0-based)
	result  SetupResult
	tmux    string // $TMUX: inside tmux, a copy is checked against tmux's set-clipboard
	// hints are the fields' placeholders as written, to mark them again when the terminal
	// turns out to have no colour.
	hints map[*textinput.Model]string
	sso   signInState // the device flow, when the server offers sign-in
}

// Results of the flow's I/O.
type (
	setupBeganMsg struct {
		seq    int
		client *setupapi.Client
		info   *setupapi.BeginResponse
		err    error
	}
	setupDerivedMsg struct {
		seq    int
		bundle keys.Bundle
		rk     keys.RecoveryKey
		err    error
	}
	setupStoredMsg struct {
		seq  int
		resp *setupapi.CompleteResponse
		err  error
	}
	setupSavedMsg struct {
		path string
		err  error
	}
	// setupCopiedMsg says what became of a copy (clipboardVerdict).
	setupCopiedMsg struct {
		level level
		text  string
	}
)

func newSetupFlow(ctx context.Context, o SetupOptions) *setupFlow {
	if o.Purpose == "" {
		o.Purpose = db.PurposeSetup
	}
	if o.Server == "" {
		o.Server = setupapi.DefaultServer
	}
	if o.Params == (keys.Params{}) {
		o.Params = keys.DefaultParams()
	}
	f := &setupFlow{ctx: ctx, opts: o, st: newSetupFlowStyles(true), tmux: os.Getenv("TMUX")}
	mk := func(prompt, hint string, limit int) textinput.Model {
		in := textinput.New()
		in.Prompt = prompt
		in.Placeholder = hint
		in.CharLimit = limit
		in.SetStyles(f.st.Input)
		return in
	}
	f.signIn[sfFieldServer] = mk("Server  › ", "https://scim.example.com", 300)
	f.signIn[sfFieldEmail] = mk("Email   › ", "you@example.com", 320)
	f.signIn[sfFieldCode] = mk("Code    › ", db.SetupCodeExample, 60)
	f.signIn[sfFieldServer].SetValue(o.Server)
	f.signIn[sfFieldEmail].SetValue(o.Email)
	f.signIn[sfFieldCode].SetValue(o.Code)
	f.rkIn = mk("Recovery key › ", "XXXXX-XXXXX-XXXXX-XXXXX-XXXXX-XXXXX-XXXXX", 80)
	for i, p := range []string{"Passphrase › ", "Again      › "} {
		f.pass[i] = mk(p, "", 1024)
		f.pass[i].EchoMode = textinput.EchoPassword
		f.pass[i].EchoCharacter = '•'
	}
	f.saveIn = mk("Save to › ", "", 1024)
	f.confIn = mk("› ", "XXXXX XXXXX", 30)
	f.hints = map[*textinput.Model]string{}
	for _, in := range f.inputs() {
		f.hints[in] = in.Placeholder
	}
	f.spinner = spinner.New(spinner.WithSpinner(spinner.Dot), spinner.WithStyle(f.st.Title))
	// Start on the first empty field: with --email given, the cursor waits in the code.
	f.focus = sfFieldCode
	for i := sfFieldServer; i <= sfFieldCode; i++ {
		if strings.TrimSpace(f.signIn[i].Value()) == "" {
			f.focus = i
			break
		}
	}
	return f
}

func (f *setupFlow) recovering() bool { return f.opts.Purpose == db.PurposeRecover }

// Init asks for the background colour and focuses the first field.
func (f *setupFlow) Init() tea.Cmd {
	return tea.Batch(tea.RequestBackgroundColor, f.signIn[f.focus].Focus(), f.askConfig())
}

// Update handles one message.
func (f *setupFlow) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		f.width, f.height = msg.Width, msg.Height
		w := max(20, min(msg.Width-6, 70))
		for i := range f.signIn {
			f.signIn[i].SetWidth(w - 10)
		}
		for i := range f.pass {
			f.pass[i].SetWidth(w - 14)
		}
		f.rkIn.SetWidth(w - 16)
		f.saveIn.SetWidth(w - 10)
		f.confIn.SetWidth(20)
		return f, nil
	case tea.ColorProfileMsg:
		for in, hint := range f.hints {
			in.Placeholder = markHint(hint, colourless(msg))
		}
		return f, nil
	case tea.BackgroundColorMsg:
		f.st = newSetupFlowStyles(msg.IsDark())
		for _, in := range f.inputs() {
			in.SetStyles(f.st.Input)
		}
		f.spinner.Style = f.st.Title
		return f, nil
	case spinner.TickMsg:
		if !f.busy() {
			return f, nil
		}
		var cmd tea.Cmd
		f.spinner, cmd = f.spinner.Update(msg)
		return f, cmd
	case setupConfigMsg:
		return f, f.configured(msg)
	case setupDeviceMsg:
		return f, f.deviceStarted(msg)
	case setupSignedInMsg:
		return f, f.signedIn(msg)
	case setupBeganMsg:
		return f, f.began(msg)
	case setupDerivedMsg:
		return f, f.derived(msg)
	case setupStoredMsg:
		return f, f.stored(msg)
	case setupSavedMsg:
		f.saved(msg)
		return f, nil
	case setupCopiedMsg:
		if f.step == sfShowKey {
			if msg.level == levelErr {
				f.problem = msg.text
			} else {
				f.note = msg.text
			}
		}
		return f, nil
	case tea.KeyPressMsg:
		if msg.String() == "ctrl+c" {
			f.result.Interrupted = f.step == sfUploading
			return f, tea.Quit
		}
		return f, f.key(msg)
	case tea.PasteMsg:
		return f, f.typed(msg)
	}
	return f, nil
}

func (f *setupFlow) busy() bool {
	return f.step == sfChecking || f.step == sfDeriving || f.step == sfUploading || f.step == sfDevice
}

// inputs are every text input, for restyling.
func (f *setupFlow) inputs() []*textinput.Model {
	return []*textinput.Model{&f.signIn[0], &f.signIn[1], &f.signIn[2], &f.rkIn, &f.pass[0], &f.pass[1], &f.saveIn, &f.confIn}
}

// active is the input that takes typing on this step, or nil.
func (f *setupFlow) active() *textinput.Model {
	switch f.step {
	case sfSignIn:
		return &f.signIn[f.focus]
	case sfRecoveryKey:
		return &f.rkIn
	case sfPassphrase:
		return &f.pass[f.passAt]
	case sfSaveKey:
		return &f.saveIn
	case sfConfirmKey:
		return &f.confIn
	}
	return nil
}

// typed gives a key or a paste to the active input.
func (f *setupFlow) typed(msg tea.Msg) tea.Cmd {
	in := f.active()
	if in == nil {
		return nil
	}
	before := in.Value()
	var cmd tea.Cmd
	*in, cmd = in.Update(msg)
	if f.step == sfPassphrase && in.Value() != before {
		f.problem = "" // the meter takes over while the passphrase is being fixed
	}
	return cmd
}

func (f *setupFlow) key(k tea.KeyPressMsg) tea.Cmd {
	s := k.String()
	switch f.step {
	case sfSignIn:
		switch s {
		case "tab", "down":
			return f.moveFocus(1)
		case "shift+tab", "up":
			return f.moveFocus(-1)
		case "ctrl+o":
			if f.sso.cfg != nil && f.client != nil {
				return f.startDevice()
			}
		case "enter":
			// Enter moves on through the empty fields, then signs in.
			for i := f.focus; i <= sfFieldCode; i++ {
				if strings.TrimSpace(f.signIn[i].Value()) == "" {
					return f.setFocus(i)
				}
			}
			return f.begin()
		}
	case sfRecoveryKey:
		switch s {
		case "enter":
			return f.takeRecoveryKey()
		case "esc":
			return f.back(sfSignIn)
		}
	case sfPassphrase:
		switch s {
		case "enter":
			return f.takePassphrase()
		case "tab", "shift+tab", "up", "down":
			return f.setPassFocus(1 - f.passAt)
		case "esc":
			f.clearPassphrases()
			if f.recovering() {
				return f.back(sfRecoveryKey)
			}
			return f.back(sfSignIn)
		}
	case sfShowKey:
		switch s {
		case "s":
			f.problem, f.note = "", ""
			if f.saveIn.Value() == "" {
				f.saveIn.SetValue(f.defaultSavePath())
			}
			f.saveIn.CursorEnd()
			f.step = sfSaveKey
			return f.saveIn.Focus()
		case "c":
			f.problem, f.note = "", ""
			ctx, tmux := f.ctx, f.tmux
			return tea.Batch(tea.SetClipboard(f.rkText), func() tea.Msg {
				l, text := clipboardVerdict(ctx, tmux, "the recovery key")
				return setupCopiedMsg{level: l, text: text}
			})
		case "enter":
			f.problem, f.note = "", ""
			f.confIn.SetValue("")
			f.step = sfConfirmKey
			return f.confIn.Focus()
		}
		return nil
	case sfSaveKey:
		switch s {
		case "enter":
			return f.saveKey()
		case "esc":
			f.problem = ""
			f.saveIn.Blur()
			f.step = sfShowKey
			return nil
		}
	case sfConfirmKey:
		switch s {
		case "enter":
			return f.confirmKey()
		case "esc":
			f.problem = ""
			f.confIn.Blur()
			f.step = sfShowKey
			return nil
		}
	case sfDone:
		if s == "enter" || s == "esc" || s == "q" {
			return tea.Quit
		}
		return nil
	case sfDevice:
		return f.deviceKey(s)
	default: // busy: only ctrl+c
		return nil
	}
	return f.typed(k)
}

func (f *setupFlow) setFocus(i int) tea.Cmd {
	f.signIn[f.focus].Blur()
	f.focus = i
	f.signIn[i].CursorEnd()
	return f.signIn[i].Focus()
}

func (f *setupFlow) moveFocus(d int) tea.Cmd {
	return f.setFocus((f.focus + d + len(f.signIn)) % len(f.signIn))
}

func (f *setupFlow) setPassFocus(i int) tea.Cmd {
	f.pass[f.passAt].Blur()
	f.passAt = i
	return f.pass[i].Focus()
}

// back returns to an input step, keeping what was typed there.
func (f *setupFlow) back(to setupFlowStep) tea.Cmd {
	f.problem, f.note = "", ""
	f.step = to
	switch to {
	case sfSignIn:
		return f.setFocus(f.focus)
	case sfRecoveryKey:
		return f.rkIn.Focus()
	}
	return nil
}

// refuse shows a problem on the sign-in form with the cursor in the field to fix. A
// problem with the server (unreachable, untrusted, not scimdesk) says that the URL is
// fixed right here: nobody needs to run the command again with another --server.
func (f *setupFlow) refuse(field int, problem string) tea.Cmd {
	f.step = sfSignIn
	f.problem = problem
	if field == sfFieldServer {
		f.problem += " Correct the Server line above (ctrl+u clears it) and press enter."
	}
	return f.setFocus(field)
}

// begin checks the form and asks the server about the code.
func (f *setupFlow) begin() tea.Cmd {
	f.problem, f.note = "", ""
	server, err := setupapi.NormalizeServerURL(f.signIn[sfFieldServer].Value())
	if err != nil {
		return f.refuse(sfFieldServer, err.Error())
	}
	email := strings.TrimSpace(f.signIn[sfFieldEmail].Value())
	code := f.signIn[sfFieldCode].Value()
	if _, err := db.NormalizeSetupCode(code); err != nil {
		return f.refuse(sfFieldCode, sfSentence(errors.New(codeProblem(err))))
	}
	client, err := setupapi.NewClient(server, f.opts.CAFile)
	if err != nil {
		return f.refuse(sfFieldServer, err.Error())
	}
	f.signIn[f.focus].Blur()
	f.client = client
	f.step = sfChecking
	f.seq++
	seq, ctx, purpose := f.seq, f.ctx, f.opts.Purpose
	return tea.Batch(f.spinner.Tick, func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		info, err := client.Begin(ctx, email, code, purpose)
		return setupBeganMsg{seq: seq, client: client, info: info, err: err}
	})
}

func (f *setupFlow) began(msg setupBeganMsg) tea.Cmd {
	if msg.seq != f.seq || f.step != sfChecking {
		return nil
	}
	if msg.err != nil {
		return f.refuse(sfFieldFor(msg.err), sfSentence(msg.err))
	}
	f.client, f.info = msg.client, msg.info
	f.params = setupapi.KDFParams(f.opts.Params, msg.info.MinKDF)
	// A key made before a failed upload is still good for the same user: store it now,
	// rather than make the user choose a passphrase and copy a recovery key again.
	if f.bundle != nil && f.forUser == msg.info.UserID {
		return f.upload()
	}
	f.dropBundle()
	if f.recovering() {
		f.step = sfRecoveryKey
		return f.rkIn.Focus()
	}
	f.step = sfPassphrase
	return f.setPassFocus(0)
}

// takeRecoveryKey reads the typed recovery key; its checksum catches typos here, before
// any work.
func (f *setupFlow) takeRecoveryKey() tea.Cmd {
	rk, err := keys.ParseRecoveryKey(f.rkIn.Value())
	if err != nil {
		f.problem = sfRecoveryKeyProblem(err)
		return nil
	}
	f.problem = ""
	f.rk = rk
	f.rkIn.Blur()
	f.step = sfPassphrase
	return f.setPassFocus(0)
}

func sfRecoveryKeyProblem(err error) string {
	switch {
	case errors.Is(err, keys.ErrRecoveryKeyTypo):
		return "That key has a typo (its checksum does not match): check each character."
	case errors.Is(err, keys.ErrRecoveryKeyLength):
		_, detail, _ := strings.Cut(err.Error(), ": ")
		return fmt.Sprintf("A recovery key has %d characters (in 7 groups of 5); %s.", keys.RecoveryKeyChars, detail)
	case errors.Is(err, keys.ErrRecoveryKeyCharacter):
		_, detail, _ := strings.Cut(err.Error(), ": ")
		return "That is not a recovery key: " + detail + "."
	}
	return err.Error()
}

// takePassphrase moves from the first passphrase to the second, or starts the key.
func (f *setupFlow) takePassphrase() tea.Cmd {
	p := f.pass[0].Value()
	if _, err := keys.CheckPassphrase(p); err != nil {
		f.problem = sfPassphraseProblem(err)
		return f.setPassFocus(0)
	}
	if f.passAt == 0 {
		f.problem = ""
		return f.setPassFocus(1)
	}
	if f.pass[1].Value() != p {
		f.problem = "The two passphrases differ: type it again."
		f.pass[1].SetValue("")
		return nil
	}
	f.problem = ""
	f.pass[1].Blur()
	f.step = sfDeriving
	f.seq++
	seq, info, params, pass, rk := f.seq, f.info, f.params, []byte(p), f.rk
	f.clearPassphrases() // the only copy left is the one the derivation uses
	derive := func() tea.Msg {
		defer clear(pass)
		if info.Purpose == db.PurposeRecover {
			b, err := setupapi.RecoverBundle(info.UserID, *info.Key, rk, pass, params)
			return setupDerivedMsg{seq: seq, bundle: b, rk: rk, err: err}
		}
		b, rk, err := keys.NewBundle(info.UserID, pass, params)
		return setupDerivedMsg{seq: seq, bundle: b, rk: rk, err: err}
	}
	return tea.Batch(f.spinner.Tick, derive)
}

func sfPassphraseProblem(err error) string {
	switch {
	case errors.Is(err, keys.ErrPassphraseTooShort):
		return fmt.Sprintf("Too short: use at least %d characters. A few unrelated words work well.", keys.MinPassphraseLength)
	case errors.Is(err, keys.ErrPassphraseTooCommon):
		return "Too common: that is a well-known password or phrase."
	case errors.Is(err, keys.ErrPassphraseRepetitive):
		return "That is one character repeated."
	case errors.Is(err, keys.ErrPassphraseTooWeak):
		return "Too easy to guess: add another word, or mix in digits and symbols."
	}
	return err.Error()
}

func (f *setupFlow) clearPassphrases() {
	f.pass[0].SetValue("")
	f.pass[1].SetValue("")
}

func (f *setupFlow) derived(msg setupDerivedMsg) tea.Cmd {
	if msg.seq != f.seq || f.step != sfDeriving {
		return nil
	}
	if msg.err != nil {
		if f.recovering() && errors.Is(msg.err, keys.ErrWrongKey) {
			f.problem = "That recovery key does not open your key: check it against the one you saved."
			f.step = sfRecoveryKey
			return f.rkIn.Focus()
		}
		f.problem = "Could not make the key: " + msg.err.Error()
		f.step = sfPassphrase
		return f.setPassFocus(0)
	}
	b := msg.bundle
	f.bundle, f.forUser = &b, f.info.UserID
	if f.recovering() {
		f.rk.Wipe()
		return f.upload()
	}
	f.rk = msg.rk
	f.rkText = msg.rk.Text()
	f.groups = sfPickGroups()
	f.step = sfShowKey
	return nil
}

// sfPickGroups chooses the two groups of the recovery key the confirmation asks for.
func sfPickGroups() [2]int {
	p := rand.Perm(keys.RecoveryKeyChars / 5)
	g := []int{p[0], p[1]}
	sort.Ints(g)
	return [2]int{g[0], g[1]}
}

// confirmKey checks the groups typed back, then stores the key.
func (f *setupFlow) confirmKey() tea.Cmd {
	groups := strings.Split(f.rkText, "-")
	want := groups[f.groups[0]] + groups[f.groups[1]]
	got := strings.Map(func(r rune) rune {
		switch r {
		case ' ', '-', '\t':
			return -1
		case 'o', 'O':
			return '0'
		case 'i', 'I', 'l', 'L':
			return '1'
		}
		if r >= 'a' && r <= 'z' {
			return r - 'a' + 'A'
		}
		return r
	}, f.confIn.Value())
	if got != want {
		f.problem = fmt.Sprintf("That is not groups %d and %d of your key. Press esc to see the key again.", f.groups[0]+1, f.groups[1]+1)
		return nil
	}
	f.confIn.Blur()
	f.confIn.SetValue("")
	f.rkText = "" // shown once: from here on it is only where the user put it
	f.rk.Wipe()
	return f.upload()
}

// upload stores the key made for the user whose code was checked.
func (f *setupFlow) upload() tea.Cmd {
	f.problem, f.note = "", ""
	f.step = sfUploading
	f.seq++
	seq, ctx, client := f.seq, f.ctx, f.client
	req := setupapi.CompleteRequest{Email: strings.TrimSpace(f.signIn[sfFieldEmail].Value()), Code: f.signIn[sfFieldCode].Value(),
		Purpose: f.opts.Purpose, UserID: f.forUser, Bundle: *f.bundle}
	return tea.Batch(f.spinner.Tick, func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		resp, err := client.Complete(ctx, req)
		return setupStoredMsg{seq: seq, resp: resp, err: err}
	})
}

func (f *setupFlow) stored(msg setupStoredMsg) tea.Cmd {
	if msg.seq != f.seq || f.step != sfUploading {
		return nil
	}
	if msg.err != nil {
		// The key stays made: after fixing the server or getting a new code, signing in
		// again stores it without asking for anything else.
		return f.refuse(sfFieldFor(msg.err), sfSentence(msg.err)+" Your key is made and kept: fix this and press enter to store it.")
	}
	f.dropBundle()
	f.result = SetupResult{Done: true, UserName: msg.resp.UserName, Server: f.client.BaseURL(), RecoveryFile: f.result.RecoveryFile}
	f.step = sfDone
	return nil
}

// dropBundle forgets a key that is stored or no longer wanted.
func (f *setupFlow) dropBundle() {
	f.bundle, f.forUser, f.rkText = nil, "", ""
	f.rk.Wipe()
}

// forget clears what secrets the flow still holds, when it ends.
func (f *setupFlow) forget() {
	f.clearPassphrases()
	f.rkIn.SetValue("")
	f.confIn.SetValue("")
	f.dropBundle()
	f.stopDevice()
}

// sfFieldFor is the sign-in field to fix after an error.
func sfFieldFor(err error) int {
	var se *setupapi.Error
	var ce *setupapi.ConnError
	switch {
	case errors.As(err, &ce):
		return sfFieldServer
	case errors.As(err, &se) && se.Field() == "server":
		return sfFieldServer
	case errors.As(err, &se) && se.Field() == "email":
		return sfFieldEmail
	}
	return sfFieldCode
}

// codeProblem says, before asking the server, why the typed code cannot be one: the wrong
// shape (perhaps a code of the old, shorter format) or a typo that its check symbols catch.
func codeProblem(err error) string {
	if errors.Is(err, db.ErrCodeTypo) {
		return "the code has a typo (its last two characters do not match the rest): check it letter by letter"
	}
	return "that is not a code: a code is 20 letters and digits, like " + db.SetupCodeExample +
		" (a shorter code is from an older version: ask your admin for a new one)"
}

// sfSentence makes an error read as a sfSentence: capital first, full stop at the end.
func sfSentence(err error) string {
	s := err.Error()
	if s == "" {
		return s
	}
	s = strings.ToUpper(s[:1]) + s[1:]
	if !strings.HasSuffix(s, ".") && !strings.HasSuffix(s, "?") {
		s += "."
	}
	return s
}

var sfUnsafeName = regexp.MustCompile(`[^A-Za-z0-9@._-]+`)

func (f *setupFlow) defaultSavePath() string {
	dir := f.opts.Dir
	if dir == "" {
		dir, _ = os.Getwd()
	}
	name := "scimdesk-recovery-key.txt"
	if f.info != nil {
		name = "scimdesk-recovery-" + sfUnsafeName.ReplaceAllString(f.info.UserName, "_") + ".txt"
	}
	return filepath.Join(dir, name)
}

func (f *setupFlow) saveKey() tea.Cmd {
	path := strings.TrimSpace(f.saveIn.Value())
	if path == "" {
		f.problem = "Type a file name."
		return nil
	}
	if rest, ok := strings.CutPrefix(path, "~/"); ok {
		if home, err := os.UserHomeDir(); err == nil {
			path = filepath.Join(home, rest)
		}
	}
	if !filepath.IsAbs(path) && f.opts.Dir != "" {
		path = filepath.Join(f.opts.Dir, path)
	}
	text, info, server := f.rkText, *f.info, f.client.BaseURL()
	return func() tea.Msg {
		abs, err := filepath.Abs(path)
		if err == nil {
			err = WriteRecoveryFile(abs, text, info.UserName, info.UserID, server)
		}
		return setupSavedMsg{path: abs, err: err}
	}
}

func (f *setupFlow) saved(msg setupSavedMsg) {
	if f.step != sfSaveKey {
		return
	}
	if msg.err != nil {
		f.problem = msg.err.Error()
		return
	}
	f.problem = ""
	f.result.RecoveryFile = msg.path
	f.note = "Saved to " + msg.path + " (readable only by you). Keep a copy offline too."
	f.saveIn.Blur()
	f.step = sfShowKey
}

// WriteRecoveryFile writes the recovery key to a new file that only the user can read: the
// key alone on the first line (so `head -1` gives it to scripts), then what it is for. It
// never overwrites a file.
func WriteRecoveryFile(path, keyText, userName, userID, server string) error {
	fh, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return fmt.Errorf("%s already exists: choose another name (nothing was overwritten)", path)
	}
	if err != nil {
		return fmt.Errorf("cannot save the recovery key: %w", err)
	}
	_, err = fmt.Fprintf(fh, "%s\n\nThis is the scimdesk recovery key of %s (user id %s) on %s, made %s.\n"+
		"Keep it private and offline. If you forget your passphrase, ask your admin for a recovery\n"+
		"code, then run: scimdesk recover --server %s\n",
		keyText, userName, userID, server, time.Now().Format("2006-01-02"), server)
	if cerr := fh.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("cannot save the recovery key: %w", err)
	}
	return nil
}

// View draws the flow.
func (f *setupFlow) View() tea.View {
	v := tea.NewView("")
	v.AltScreen = true // the recovery key must not stay in the scrollback
	v.WindowTitle = "scimdesk " + map[bool]string{false: "setup", true: "recover"}[f.recovering()]
	w := f.width
	if w <= 0 {
		w = 80
	}
	tw := max(20, min(w-4, 76)) // text width
	st := f.st

	var b strings.Builder
	title := "scimdesk setup · create your master key"
	if f.recovering() {
		title = "scimdesk recover · choose a new passphrase"
	}
	b.WriteString(" " + st.Title.Render(title) + "\n")
	b.WriteString(" " + f.progress() + "\n")
	b.WriteString(" " + st.Rule.Render(strings.Repeat("─", tw)) + "\n\n")

	body := f.body(tw)
	for _, l := range strings.Split(body, "\n") {
		b.WriteString("  " + l + "\n")
	}
	if f.problem != "" {
		b.WriteString("\n" + sfIndent(st.Err.Render(sfWrap("✗ "+f.problem, tw)), "  ") + "\n")
	}
	if f.note != "" {
		b.WriteString("\n" + sfIndent(st.OK.Render(sfWrap("✓ "+f.note, tw)), "  ") + "\n")
	}
	content := b.String()
	help := " " + f.help()
	if f.height > 0 {
		lines := strings.Count(content, "\n")
		if pad := f.height - 1 - lines; pad > 0 {
			content += strings.Repeat("\n", pad)
		}
	} else {
		content += "\n"
	}
	v.SetContent(content + help)
	return v
}

// progress is the row of steps, the current one marked.
func (f *setupFlow) progress() string {
	names := []string{"Sign in", "Passphrase", "Recovery key", "Done"}
	if f.recovering() {
		names = []string{"Sign in", "Recovery key", "New passphrase", "Done"}
	}
	var at int
	switch f.step {
	case sfSignIn, sfChecking, sfDevice:
		at = 0
	case sfRecoveryKey:
		at = 1
	case sfPassphrase, sfDeriving:
		at = map[bool]int{false: 1, true: 2}[f.recovering()]
	case sfShowKey, sfSaveKey, sfConfirmKey:
		at = 2
	case sfUploading:
		at = 2
	case sfDone:
		at = 3
	}
	parts := make([]string, len(names))
	for i, n := range names {
		switch {
		case i < at || f.step == sfDone:
			parts[i] = f.st.StepDone.Render("✓ " + n)
		case i == at:
			parts[i] = f.st.StepNow.Render(fmt.Sprintf(" %d %s ", i+1, n))
		default:
			parts[i] = f.st.StepTodo.Render(fmt.Sprintf("%d %s", i+1, n))
		}
	}
	return strings.Join(parts, f.st.Dim.Render("  ›  "))
}

func (f *setupFlow) body(tw int) string {
	st := f.st
	switch f.step {
	case sfSignIn:
		intro := "Type your email and the setup code your admin gave you. Nothing is stored until you have chosen a passphrase and kept your recovery key."
		if f.recovering() {
			intro = "Type your email and the recovery code your admin gave you. Then your recovery key and a new passphrase: your key stays the same."
		}
		// The field with the cursor is marked with ▸ too, not only by its colour, so that
		// after a refusal the field to fix shows without colour (NO_COLOR) as well.
		fieldsView := make([]string, len(f.signIn))
		for i := range f.signIn {
			mark := "  "
			if i == f.focus {
				mark = st.Title.Render("▸ ")
			}
			fieldsView[i] = mark + f.signIn[i].View()
		}
		return sfWrap(intro, tw) + "\n\n" + strings.Join(fieldsView, "\n")
	case sfChecking:
		return f.spinner.View() + "Checking your code with " + f.serverName() + "…"
	case sfDevice:
		return f.deviceBody(tw)
	case sfRecoveryKey:
		return sfWrap("Type the recovery key you were shown when you set up your key (7 groups of 5 characters; case, spaces and dashes do not matter).", tw) +
			"\n\n" + f.rkIn.View()
	case sfPassphrase:
		who := f.info.UserName
		intro := "Choose a passphrase for " + who + ". It unlocks your key on your side; the server never sees it and cannot reset it. A few unrelated words make a good one."
		if f.recovering() {
			intro = "Choose a new passphrase for " + who + ". The old one stops working."
		}
		return sfWrap(intro, tw) + "\n\n" + f.pass[0].View() + "\n" + f.pass[1].View() + "\n\n" + f.meter()
	case sfDeriving:
		return f.spinner.View() + fmt.Sprintf("Making your key (argon2id, %d MiB, %d passes)…", f.params.MemoryKiB/1024, f.params.Time) +
			"\n\n" + st.Dim.Render(sfWrap("This takes a moment on purpose: it makes guessing your passphrase slow.", tw))
	case sfShowKey:
		return st.Heading.Render("Your recovery key — shown only this once") + "\n\n" +
			"  " + st.Secret.Render(f.rkText) + "\n" +
			"  " + st.Dim.Render(sfGroupNumbers(f.rkText)) + "\n\n" +
			sfWrap("If you forget your passphrase, this key and a recovery code from your admin let you choose a new one (scimdesk recover). Without it, nobody can: not your admin, not the server. Write it down, or save it somewhere safe and offline.", tw)
	case sfSaveKey:
		return sfWrap("Save the recovery key to a new file, readable only by you (mode 0600). An existing file is never overwritten.", tw) +
			"\n\n" + f.saveIn.View()
	case sfConfirmKey:
		return sfWrap(fmt.Sprintf("To be sure you have it: type groups %d and %d of your recovery key.", f.groups[0]+1, f.groups[1]+1), tw) +
			"\n\n" + f.confIn.View()
	case sfUploading:
		return f.spinner.View() + "Storing your key on " + f.serverName() + "…" + "\n\n" +
			st.Dim.Render(sfWrap("Only the public key and the wrapped private key are sent: never your passphrase, never your recovery key.", tw))
	case sfDone:
		msg := st.OK.Render("✓ Done: "+f.result.UserName+" is ready.") + "\n\n"
		if f.recovering() {
			msg += sfWrap("Your new passphrase unlocks your key from now on; your recovery key stays the same.", tw)
		} else {
			msg += sfWrap("Your key is stored on the server, locked with your passphrase and with your recovery key; the server cannot open it. Your admin sees you as ready now.", tw)
		}
		if f.result.RecoveryFile != "" {
			msg += "\n\n" + sfWrap("Recovery key saved in "+f.result.RecoveryFile+".", tw)
		}
		return msg
	}
	return ""
}

func (f *setupFlow) serverName() string {
	if f.client == nil {
		return "the server"
	}
	return f.client.BaseURL()
}

// meter is the live strength of the passphrase as typed.
func (f *setupFlow) meter() string {
	p := f.pass[0].Value()
	if p == "" {
		return f.st.Dim.Render(fmt.Sprintf("Strength  at least %d characters", keys.MinPassphraseLength))
	}
	s, err := keys.CheckPassphrase(p)
	const cells = 20
	filled := [5]int{2, 6, 11, 16, 20}[max(0, min(4, s.Score))]
	bar := f.st.Meter[max(0, min(4, s.Score))].Render(strings.Repeat("█", filled)) + f.st.MeterEmpty.Render(strings.Repeat("░", cells-filled))
	verdict := f.st.Meter[max(0, min(4, s.Score))].Render(s.Label)
	if err == nil {
		verdict += " ✓"
	} else {
		verdict += " ✗"
	}
	line := "Strength  " + bar + "  " + verdict
	if s.Reason != "" {
		line += "\n          " + f.st.Dim.Render(sfTruncate(s.Reason, 64))
	}
	return line
}

func (f *setupFlow) help() string {
	k, d := f.st.Key.Render, f.st.Dim.Render
	var items []string
	switch f.step {
	case sfSignIn:
		items = []string{k("enter") + d(" next"), k("tab") + d(" field"), k("ctrl+c") + d(" quit")}
		if f.sso.cfg != nil && f.client != nil {
			items = append([]string{k("ctrl+o") + d(" sign in instead")}, items...)
		}
	case sfRecoveryKey, sfSaveKey, sfConfirmKey:
		items = []string{k("enter") + d(" ok"), k("esc") + d(" back"), k("ctrl+c") + d(" quit")}
	case sfPassphrase:
		items = []string{k("enter") + d(" next"), k("tab") + d(" field"), k("esc") + d(" back"), k("ctrl+c") + d(" quit")}
	case sfShowKey:
		items = []string{k("s") + d(" save to a file"), k("c") + d(" copy"), k("enter") + d(" I have it"), k("ctrl+c") + d(" quit (nothing stored)")}
	case sfDone:
		items = []string{k("enter") + d(" exit")}
	case sfDevice:
		items = f.deviceHelp()
	default:
		items = []string{k("ctrl+c") + d(" quit")}
	}
	return strings.Join(items, d(" · "))
}

// sfGroupNumbers numbers the groups of a recovery key, under each group.
func sfGroupNumbers(keyText string) string {
	var b strings.Builder
	for i, g := range strings.Split(keyText, "-") {
		if i > 0 {
			b.WriteString(" ")
		}
		n := fmt.Sprint(i + 1)
		pad := (len(g) - len(n)) / 2
		b.WriteString(strings.Repeat(" ", pad) + n + strings.Repeat(" ", len(g)-pad-len(n)))
	}
	return strings.TrimRight(b.String(), " ")
}

func sfWrap(s string, w int) string {
	return lipgloss.NewStyle().Width(w).Render(s)
}

func sfIndent(s, prefix string) string {
	return prefix + strings.ReplaceAll(s, "\n", "\n"+prefix)
}

func sfTruncate(s string, w int) string {
	if lipgloss.Width(s) <= w {
		return s
	}
	return lipgloss.NewStyle().MaxWidth(w).Render(s)
}
