// Package setupapi is the setup API's contract and its client: the JSON a pending user's
// terminal and a scimdesk server exchange under /setup/v1/, and the client that `scimdesk
// setup`, `scimdesk recover` and the console's setup flow talk through. The server side
// (handlers, rate limits, sign-in verification) lives in scimserver, which imports this
// package for the wire types; a client needs nothing of the server.
//
//	GET  /setup/v1/config    -> Config: whether sign-in is available, and with what
//	POST /setup/v1/signin    {idToken, purpose}                      -> SignInResponse
//	POST /setup/v1/begin     {email, code, purpose}                  -> BeginResponse
//	POST /setup/v1/complete  {email, code, purpose, userId, bundle}  -> CompleteResponse
//
// Every refusal is an ErrorBody whose Error is one of the Refusal* codes.
package setupapi
