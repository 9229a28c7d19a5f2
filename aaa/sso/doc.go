// Package sso is tutti-aaa's single sign-on over OpenID Connect
// (docs/central-aaa.md "Single sign-on"). tutti-aaa is the relying
// party: it discovers the identity provider (issuer discovery), runs
// the device authorization grant (RFC 8628) or the authorization code
// grant with PKCE (RFC 7636) towards it, verifies the ID token, maps the
// provider's groups to entitlements and issues its own short-lived JWT,
// exactly as for a static user (login.TokenSigner), so the signer, the
// nodes and the aaasvc-compatible API see no difference.
//
// The CLI never holds an ID token or the client secret. It talks to four
// endpoints (DevicePath, PollPath, AuthorizePath, ExchangePath):
//
//	device flow: POST device {public_key} → user_code, verification_uri;
//	             POST poll {session} until a token (or a refusal)
//	code + PKCE: POST authorize {public_key, redirect_uri (loopback),
//	             code_challenge} → authorization_url; the browser comes
//	             back to the CLI's loopback listener with code and state;
//	             POST exchange {session, state, code, code_verifier} → token
//
// An ID token is accepted only when all of these hold, in this order:
//
//	signature by a key of the provider's JWKS (refetched when a new kid
//	appears, so key rotation needs no restart) → alg in the allow-list
//	("none" and HMAC never) → iss is the configured issuer → aud holds the
//	client id → not expired → nonce is the one this flow sent (code flow;
//	RFC 8628 has no nonce) → the username claim is present → the groups
//	claim is present → a second factor in amr/acr when required → at
//	least one group is entitled
//
// Each refusal is a *Refusal whose Message is written for the user (who
// has just signed in and may be told why) and whose Reason labels the
// service log. Sessions are in memory and bounded; a tutti-aaa restart
// ends the flows in progress.
package sso
