package ssotest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"golang.org/x/oauth2"
)

// ApproveDevice signs username in at the device page and approves the
// sign-in of userCode, as the user does in a browser.
func (p *Provider) ApproveDevice(userCode, username string) error {
	_, err := p.post(p.Issuer+"/device", url.Values{"user_code": {userCode}, "username": {username}, "password": {Password}})
	return err
}

// SignIn follows authURL as a browser would, signs username in at the
// login page and returns where the provider finally redirects (the
// client's redirect_uri with code and state), without visiting it.
func (p *Provider) SignIn(authURL, username string) (*url.URL, error) {
	loc, err := p.redirect(http.MethodGet, authURL, nil)
	if err != nil {
		return nil, fmt.Errorf("authorize: %w", err)
	}
	id := loc.Query().Get("authRequestID")
	if id == "" {
		return nil, fmt.Errorf("authorize redirected to %s, not the login page", loc)
	}
	cb, err := p.redirect(http.MethodPost, p.Issuer+"/login", url.Values{"id": {id}, "username": {username}, "password": {Password}})
	if err != nil {
		return nil, fmt.Errorf("login: %w", err)
	}
	back, err := p.redirect(http.MethodGet, cb.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("callback: %w", err)
	}
	if back.Query().Get("error") != "" {
		return nil, fmt.Errorf("provider refused: %s: %s", back.Query().Get("error"), back.Query().Get("error_description"))
	}
	return back, nil
}

// Browse is SignIn, then a visit to the redirect (the CLI's loopback
// listener); it returns what that page said.
func (p *Provider) Browse(authURL, username string) (string, error) {
	back, err := p.SignIn(authURL, username)
	if err != nil {
		return "", err
	}
	resp, err := http.Get(back.String())
	if err != nil {
		return "", fmt.Errorf("loopback: %w", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b), nil
}

// IDToken runs a code + PKCE flow for client c as username and returns
// the ID token, which carries nonce.
func (p *Provider) IDToken(ctx context.Context, c Client, username, nonce string) (string, error) {
	var disc struct {
		Auth  string `json:"authorization_endpoint"`
		Token string `json:"token_endpoint"`
	}
	resp, err := p.HTTPClient.Get(p.Issuer + "/.well-known/openid-configuration")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&disc); err != nil {
		return "", err
	}
	conf := &oauth2.Config{ClientID: c.ID, ClientSecret: c.Secret, RedirectURL: "http://127.0.0.1:9/callback",
		Endpoint: oauth2.Endpoint{AuthURL: disc.Auth, TokenURL: disc.Token}, Scopes: []string{"openid", "profile", "groups"}}
	verifier := oauth2.GenerateVerifier()
	back, err := p.SignIn(conf.AuthCodeURL("st", oauth2.SetAuthURLParam("nonce", nonce), oauth2.S256ChallengeOption(verifier)), username)
	if err != nil {
		return "", err
	}
	tok, err := conf.Exchange(context.WithValue(ctx, oauth2.HTTPClient, p.HTTPClient), back.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		return "", err
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return "", errors.New("no id_token")
	}
	return raw, nil
}

func (p *Provider) post(u string, form url.Values) (*http.Response, error) {
	resp, err := p.HTTPClient.PostForm(u, form)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 400 {
		b, _ := io.ReadAll(resp.Body)
		return nil, fmt.Errorf("%s: %s: %s", u, resp.Status, strings.TrimSpace(string(b)))
	}
	return resp, nil
}

// redirect sends one request and returns its Location, resolved.
func (p *Provider) redirect(method, u string, form url.Values) (*url.URL, error) {
	var resp *http.Response
	var err error
	if method == http.MethodPost {
		resp, err = p.HTTPClient.PostForm(u, form)
	} else {
		resp, err = p.HTTPClient.Get(u)
	}
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode < 300 || resp.StatusCode >= 400 {
		b, _ := io.ReadAll(resp.Body)
		return nil, fmt.Errorf("%s %s: %s, not a redirect: %s", method, u, resp.Status, strings.TrimSpace(string(b)))
	}
	return resp.Request.URL.Parse(resp.Header.Get("Location"))
}
