package actors

import "net"

// Authenticator makes the credential a channel sends to a server (brpc's Authenticator, client
// side). The credential travels in RpcMeta.authentication_data of the first request of each
// connection. It must be safe for concurrent use and comparable (a pointer or a comparable
// struct): channels share a connection only when they share an Authenticator.
type Authenticator interface {
	GenerateCredential() ([]byte, error)
}

// ServerAuthenticator checks the credential of each new connection (brpc's Authenticator,
// server side). A connection whose first request carries no credential, or one it refuses, gets
// ERPCAUTH for that request and is closed: an unauthenticated client gets nothing.
type ServerAuthenticator interface {
	VerifyCredential(credential []byte, remote net.Addr) error
}
