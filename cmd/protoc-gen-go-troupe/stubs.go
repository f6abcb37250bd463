package main

import (
	"google.golang.org/protobuf/compiler/protogen"
)

// genClient writes s's client: a struct over an actors.Channel with a synchronous and an
// asynchronous method for each unary method.
func genClient(g *protogen.GeneratedFile, s *protogen.Service, methods []*protogen.Method) {
	client := s.GoName + "Client"
	channel := g.QualifiedGoIdent(actorsPkg.Ident("Channel"))
	typeDoc(g, s, "// "+client+" calls "+string(s.Desc.FullName())+".\n"+
		"// It works over any troupe channel: a plain channel, a cluster channel or a combo channel,\n"+
		"// which all are an [actors.Channel]. Its methods take and return the service's own message\n"+
		"// types, so a call with the wrong ones does not compile. It is safe for concurrent use.")
	g.P("type ", client, " struct {")
	g.P("ch ", channel)
	g.P("}")
	g.P()
	g.P("// New", client, " returns a client calling ", s.Desc.FullName(), " over ch.")
	g.P("// The client does not own ch: closing ch is the caller's business. With a nil ch, every")
	g.P("// call fails with EINVAL.")
	g.P("func New", client, "(ch ", channel, ") *", client, " {")
	g.P("return &", client, "{ch: ch}")
	g.P("}")
	g.P()
	g.P("// channel returns the client's channel, or a zero PlainChannel, which fails every call")
	g.P("// with EINVAL, for a client made without one.")
	g.P("func (c *", client, ") channel() ", channel, " {")
	g.P("if c == nil || c.ch == nil {")
	g.P("return new(", actorsPkg.Ident("PlainChannel"), ")")
	g.P("}")
	g.P("return c.ch")
	g.P("}")
	for _, m := range methods {
		g.P()
		genCall(g, client, m)
		g.P()
		genGo(g, client, m)
	}
}

// genCall writes m's synchronous client method.
func genCall(g *protogen.GeneratedFile, client string, m *protogen.Method) {
	resp := g.QualifiedGoIdent(m.Output.GoIdent)
	g.P("// ", m.GoName, " calls ", fullName(m), " and waits until it finished.")
	g.P("// It is brpc's synchronous call. cntl, which may be nil, sets the call's options (timeout,")
	g.P("// retries, attachment…) and reports on it once the call returned.")
	methodDoc(g, m)
	g.P("func (c *", client, ") ", m.GoName, "(ctx ", contextPkg.Ident("Context"), ", req *", m.Input.GoIdent,
		", cntl *", actorsPkg.Ident("Controller"), ") (*", resp, ", error) {")
	g.P("resp := new(", resp, ")")
	g.P("if err := c.channel().Call(ctx, ", constName(m), ", req, resp, cntl); err != nil {")
	g.P("return nil, err")
	g.P("}")
	g.P("return resp, nil")
	g.P("}")
}

// genGo writes m's asynchronous client method.
func genGo(g *protogen.GeneratedFile, client string, m *protogen.Method) {
	g.P("// Go", m.GoName, " starts ", fullName(m), " and returns at once.")
	g.P("// It is brpc's asynchronous call. resp, which the caller owns, holds the response once the")
	g.P("// call succeeded: read it after the returned Call is done, or in done. done, if not nil,")
	g.P("// runs exactly once when the call finished, on a goroutine that is not the caller's (see")
	g.P("// [actors.Channel]).")
	methodDoc(g, m)
	g.P("func (c *", client, ") Go", m.GoName, "(ctx ", contextPkg.Ident("Context"), ", req *", m.Input.GoIdent,
		", resp *", m.Output.GoIdent, ", cntl *", actorsPkg.Ident("Controller"),
		", done func(*", actorsPkg.Ident("Controller"), ")) *", actorsPkg.Ident("Call"), " {")
	g.P("return c.channel().Go(ctx, ", constName(m), ", req, resp, cntl, done)")
	g.P("}")
}

// genServer writes s's server interface and the function registering an implementation of it.
func genServer(g *protogen.GeneratedFile, s *protogen.Service, methods []*protogen.Method) {
	server := s.GoName + "Server"
	g.P()
	typeDoc(g, s, "// "+server+" is what a program implements to serve "+string(s.Desc.FullName())+".\n"+
		"// Register it on an [actors.Server] with [Register"+server+"]. An error a method returns\n"+
		"// that is (or wraps) a [wire.Errno] or a [*wire.Error] reaches the caller with its code,\n"+
		"// any other error as EINTERNAL with its text.")
	g.P("type ", server, " interface {")
	for i, m := range methods {
		if i > 0 {
			g.P()
		}
		g.P("// ", m.GoName, " answers ", fullName(m), ".")
		methodDoc(g, m)
		g.P(m.GoName, "(", contextPkg.Ident("Context"), ", *", m.Input.GoIdent, ") (*", m.Output.GoIdent, ", error)")
	}
	g.P("}")
	g.P()
	errorf, einval := g.QualifiedGoIdent(wirePkg.Ident("Errorf")), g.QualifiedGoIdent(wirePkg.Ident("EINVAL"))
	g.P("// Register", server, " registers every method of ", s.Desc.FullName(), " on srv.")
	g.P("// impl answers them. Register before srv serves. A nil srv or impl is an error (EINVAL),")
	g.P("// and so are a method srv already has and a server already serving, as with")
	g.P("// [actors.Server.Register].")
	g.P("func Register", server, "(srv *", actorsPkg.Ident("Server"), ", impl ", server, ") error {")
	g.P("if srv == nil {")
	g.P("return ", errorf, "(", einval, `, "troupe: Register`, server, `: srv is nil")`)
	g.P("}")
	g.P("if impl == nil {")
	g.P("return ", errorf, "(", einval, `, "troupe: Register`, server, `: impl is nil")`)
	g.P("}")
	for _, m := range methods {
		g.P("if err := ", actorsPkg.Ident("Handle"), "(srv, ", constName(m), ", impl.", m.GoName, "); err != nil {")
		g.P("return err")
		g.P("}")
	}
	g.P("return nil")
	g.P("}")
}
