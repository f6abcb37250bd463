package callrt

import (
	"slices"
	"sort"

	"github.com/troupe-rpc/troupe/wire"
)

// UserField is one entry of RpcMeta.user_fields as a Controller keeps it.
type UserField struct{ Key, Value string }

// SetRequestUserField sets a user field sent in the request meta, replacing the value of an
// existing key. Fields are kept sorted by key: the meta carries them in that order, as protobuf's
// deterministic encoding of brpc's map does.
func (c *Controller) SetRequestUserField(key, value string) {
	i := sort.Search(len(c.userFields), func(i int) bool { return c.userFields[i].Key >= key })
	if i < len(c.userFields) && c.userFields[i].Key == key {
		c.userFields[i].Value = value
		return
	}
	c.userFields = slices.Insert(c.userFields, i, UserField{key, value})
}

// RequestUserField returns the value of a request user field, and whether it is set.
func (c *Controller) RequestUserField(key string) (string, bool) { return lookup(c.userFields, key) }

// RequestUserFields returns a copy of the request user fields, nil when none is set.
func (c *Controller) RequestUserFields() map[string]string { return asMap(c.userFields) }

// RequestUserFieldList returns the request user fields in key order, for an engine to encode;
// the slice is the Controller's own and must not be modified.
func (c *Controller) RequestUserFieldList() []UserField { return c.userFields }

// ResponseUserField returns the value of a user field of the response meta, and whether the
// server sent it.
func (c *Controller) ResponseUserField(key string) (string, bool) { return lookup(c.respFields, key) }

// ResponseUserFields returns a copy of the user fields of the response meta, nil when the server
// sent none.
func (c *Controller) ResponseUserFields() map[string]string { return asMap(c.respFields) }

// SetResponseUserFields records the user fields of the response meta, copied out of the frame
// they were decoded from; a key sent twice keeps its last value, as protobuf's map does.
func (c *Controller) SetResponseUserFields(fields []wire.UserField) {
	c.respFields = c.respFields[:0]
	for _, f := range fields {
		k, v := string(f.Key), string(f.Value)
		if i := slices.IndexFunc(c.respFields, func(u UserField) bool { return u.Key == k }); i >= 0 {
			c.respFields[i].Value = v
			continue
		}
		c.respFields = append(c.respFields, UserField{k, v})
	}
	if len(c.respFields) == 0 {
		c.respFields = nil
	}
}

// SetTraceID sets the trace id sent in the request meta; 0 sends none.
func (c *Controller) SetTraceID(id int64) { c.traceID = id }

// TraceID returns the trace id, 0 for none.
func (c *Controller) TraceID() int64 { return c.traceID }

// SetSpanID sets the span id sent in the request meta; 0 sends none.
func (c *Controller) SetSpanID(id int64) { c.spanID = id }

// SpanID returns the span id, 0 for none.
func (c *Controller) SpanID() int64 { return c.spanID }

// SetParentSpanID sets the parent span id sent in the request meta; 0 sends none.
func (c *Controller) SetParentSpanID(id int64) { c.parentSpanID = id }

// ParentSpanID returns the parent span id, 0 for none.
func (c *Controller) ParentSpanID() int64 { return c.parentSpanID }

// InheritMeta gives c the request user fields and the trace ids of from, as a combo call's
// sub-calls inherit them. The fields are copied: a sub-call may change its own.
func (c *Controller) InheritMeta(from *Controller) {
	c.userFields = slices.Clone(from.userFields)
	c.traceID, c.spanID, c.parentSpanID = from.traceID, from.spanID, from.parentSpanID
}

func lookup(fields []UserField, key string) (string, bool) {
	for _, f := range fields {
		if f.Key == key {
			return f.Value, true
		}
	}
	return "", false
}

func asMap(fields []UserField) map[string]string {
	if len(fields) == 0 {
		return nil
	}
	m := make(map[string]string, len(fields))
	for _, f := range fields {
		m[f.Key] = f.Value
	}
	return m
}

// TakeResponseUserFields gives c the response user fields of from: a selective call takes its
// winning attempt's, a call on a user's channel the user call's.
func (c *Controller) TakeResponseUserFields(from *Controller) { c.respFields = from.respFields }
