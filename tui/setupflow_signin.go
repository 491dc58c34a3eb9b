package tui

import (
	"context"
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"
	"golang.org/x/oauth2"

	"scimdesk/setupapi"
)

// Sign-in with the identity provider, before the setup-code form: when the server says its
// users may sign in (GET /setup/v1/config), the flow runs the device flow (RFC 8628): it
// shows the provider's URL and a short code as plain text, the user signs in on any
// device, and the flow trades the ID token for a code (POST /setup/v1/signin). That code
// then goes through today's begin and complete, as if the admin had handed it over. "c"
// leaves for the setup-code form at any time, and ctrl+o on that form comes back.
//
// The config is asked in the background while the form is already shown, and the flow
// switches only if nothing was typed into the code field by then: a user who came with a
// code is never taken away from it, and a server without sign-in changes nothing.

type (
	setupConfigMsg struct {
		seq    int
		client *setupapi.Client
		cfg    *setupapi.Config
		err    error
	}
	setupDeviceMsg struct {
		seq  int
		flow *setupapi.DeviceFlow
		da   *oauth2.DeviceAuthResponse
		err  error
	}
	setupSignedInMsg struct {
		seq  int
		resp *setupapi.SignInResponse
		err  error
	}
)

// signInState is the device flow's part of the setup flow.
type signInState struct {
	cfg    *setupapi.SignInConfig // nil: setup codes only (or not known yet)
	da     *oauth2.DeviceAuthResponse
	seq    int                // numbers device flows, so that an abandoned one's answer is dropped
	cancel context.CancelFunc // stops the device flow's polling
}

// askConfig asks the server given on the command line whether sign-in is available. With
// a code given, the user has chosen already.
func (f *setupFlow) askConfig() tea.Cmd {
	if strings.TrimSpace(f.opts.Code) != "" {
		return nil
	}
	server, err := setupapi.NormalizeServerURL(f.opts.Server)
	if err != nil {
		return nil
	}
	client, err := setupapi.NewClient(server, f.opts.CAFile)
	if err != nil {
		return nil
	}
	f.sso.seq++
	seq, ctx := f.sso.seq, f.ctx
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		cfg, err := client.Config(ctx)
		return setupConfigMsg{seq: seq, client: client, cfg: cfg, err: err}
	}
}

// configured starts the device flow when the server offers sign-in and the user is still
// on an untouched form. Errors are left to the form: begin reports the server's problems.
func (f *setupFlow) configured(msg setupConfigMsg) tea.Cmd {
	if msg.seq != f.sso.seq || msg.err != nil || msg.cfg == nil || msg.cfg.SignIn == nil {
		return nil
	}
	f.sso.cfg = msg.cfg.SignIn
	if f.step != sfSignIn || strings.TrimSpace(f.signIn[sfFieldCode].Value()) != "" {
		return nil
	}
	f.client = msg.client
	return f.startDevice()
}

// startDevice reads the provider's discovery document and asks it for a user code.
func (f *setupFlow) startDevice() tea.Cmd {
	f.stopDevice()
	f.signIn[f.focus].Blur()
	f.problem, f.note = "", ""
	f.step, f.sso.da = sfDevice, nil
	ctx, cancel := context.WithCancel(f.ctx)
	f.sso.cancel = cancel
	f.sso.seq++
	seq, cfg := f.sso.seq, *f.sso.cfg
	return tea.Batch(f.spinner.Tick, func() tea.Msg {
		sctx, scancel := context.WithTimeout(ctx, 30*time.Second)
		defer scancel()
		flow, err := setupapi.DiscoverDeviceFlow(sctx, nil, cfg.Issuer, cfg.ClientID)
		if err != nil {
			return setupDeviceMsg{seq: seq, err: err}
		}
		da, err := flow.Start(sctx)
		return setupDeviceMsg{seq: seq, flow: flow, da: da, err: err}
	})
}

// deviceStarted shows the code and polls the provider until the user has signed in, then
// trades the ID token for a code.
func (f *setupFlow) deviceStarted(msg setupDeviceMsg) tea.Cmd {
	if msg.seq != f.sso.seq || f.step != sfDevice {
		return nil
	}
	if msg.err != nil {
		f.problem = sfSentence(msg.err) + " Press enter to try again, or c to use a setup code."
		return nil
	}
	f.sso.da = msg.da
	seq, ctx, client, purpose, flow, da := f.sso.seq, f.ctx, f.client, f.opts.Purpose, msg.flow, msg.da
	cancelCtx, cancel := context.WithCancel(ctx)
	prev := f.sso.cancel
	f.sso.cancel = func() { cancel(); prev() }
	return func() tea.Msg {
		// The oauth2 package polls as RFC 8628 says: at the provider's interval, slower
		// after slow_down, and no longer than the code lives.
		idToken, err := flow.Wait(cancelCtx, da)
		if err != nil {
			return setupSignedInMsg{seq: seq, err: err}
		}
		sctx, scancel := context.WithTimeout(cancelCtx, 30*time.Second)
		defer scancel()
		resp, err := client.SignIn(sctx, idToken, purpose)
		return setupSignedInMsg{seq: seq, resp: resp, err: err}
	}
}

// signedIn carries on exactly as with a code from the admin.
func (f *setupFlow) signedIn(msg setupSignedInMsg) tea.Cmd {
	if msg.seq != f.sso.seq || f.step != sfDevice {
		return nil
	}
	f.stopDevice()
	if msg.err != nil {
		f.problem = sfSentence(msg.err) + " Press enter to sign in again, or c to use a setup code."
		f.sso.da = nil
		return nil
	}
	f.signIn[sfFieldServer].SetValue(f.client.BaseURL())
	f.signIn[sfFieldEmail].SetValue(msg.resp.Email)
	f.signIn[sfFieldCode].SetValue(msg.resp.Code)
	f.step = sfSignIn
	return f.begin()
}

// stopDevice abandons the device flow in progress, if any.
func (f *setupFlow) stopDevice() {
	if f.sso.cancel != nil {
		f.sso.cancel()
		f.sso.cancel = nil
	}
}

// deviceKey handles keys on the sign-in screen.
func (f *setupFlow) deviceKey(s string) tea.Cmd {
	switch s {
	case "c", "esc":
		f.stopDevice()
		f.sso.seq++ // drop what the abandoned flow still answers
		f.sso.da = nil
		return f.back(sfSignIn)
	case "enter":
		if f.problem != "" {
			return f.startDevice()
		}
	}
	return nil
}

func (f *setupFlow) deviceBody(tw int) string {
	st := f.st
	if f.sso.da == nil {
		if f.problem != "" {
			return sfWrap("Sign in with your company account ("+clean(f.sso.cfg.Issuer)+").", tw)
		}
		return f.spinner.View() + "Contacting your identity provider " + clean(f.sso.cfg.Issuer) + "…"
	}
	da := f.sso.da
	// Plain text, no QR code: the URL can be opened on any device, or copied.
	out := sfWrap("Sign in with your company account: open this page on any device", tw) + "\n\n" +
		"  " + st.Key.Render(clean(da.VerificationURI)) + "\n\n" +
		"and enter the code\n\n" +
		"  " + st.Secret.Render(clean(da.UserCode)) + "\n"
	if da.VerificationURIComplete != "" && da.VerificationURIComplete != da.VerificationURI {
		out += "\n" + st.Dim.Render("Or open this link, which has the code in it:") + "\n  " + clean(da.VerificationURIComplete) + "\n"
	}
	if !da.Expiry.IsZero() {
		out += "\n" + st.Dim.Render("The code works until "+da.Expiry.Local().Format("15:04")+".")
	}
	if f.problem == "" {
		out += "\n\n" + f.spinner.View() + "Waiting for you to sign in…"
	}
	return out
}

func (f *setupFlow) deviceHelp() []string {
	k, d := f.st.Key.Render, f.st.Dim.Render
	items := []string{k("c") + d(" I have a setup code"), k("ctrl+c") + d(" quit")}
	if f.problem != "" {
		items = append([]string{k("enter") + d(" try again")}, items...)
	}
	return items
}
