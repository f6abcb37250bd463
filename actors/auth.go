package actors

import "net"

// Authenticator makes the credential a channel sends to a server (brpc's Authenticator, client
// side), set as [ChannelOptions.Authenticator]. GenerateCredential is called once for each new
// connection, after it connected and off the socket actor (it may be slow); the credential
// travels in RpcMeta.authentication_data of the first request written on that connection only.
// With single and pooled connections that is once per connection, with short ones once per
// attempt. An error (or a panic) fails the attempts waiting for the connection with ERPCAUTH.
//
// It must be safe for concurrent use and comparable (a pointer or a comparable struct): channels
// share connections only when they share an Authenticator.
type Authenticator interface {
	GenerateCredential() ([]byte, error)
}

// ServerAuthenticator checks the credential of each new connection (brpc's Authenticator,
// server side), set as [ServerOptions.Authenticator]. VerifyCredential is called with the
// authentication_data of a connection's first request and the client's address; a nil error
// accepts the connection, whose later requests are not checked again. A connection whose first
// request carries no credential, or one VerifyCredential refuses, gets ERPCAUTH ("Fail to
// authenticate: " and the error) for that request and is closed: an unauthenticated client gets
// nothing else. It must be safe for concurrent use. The credential's bytes are its own to keep.
type ServerAuthenticator interface {
	VerifyCredential(credential []byte, remote net.Addr) error
}
