// This file holds Nullable, the field type that tells "leave unchanged" from
// "clear" in update requests.

package upstream

import (
	"bytes"
	"encoding/json"
)

// Nullable is a request field with three states: absent (the zero value, left
// out of the JSON so the upstream keeps what it has), null (sent as JSON null,
// clearing the field) and a value. Fields of this type carry the `omitzero`
// option so that the absent state is not sent at all.
type Nullable[T any] struct {
	value T
	set   bool
	null  bool
}

// Set returns a Nullable holding v.
func Set[T any](v T) Nullable[T] { return Nullable[T]{value: v, set: true} }

// Null returns a Nullable that clears the field.
func Null[T any]() Nullable[T] { return Nullable[T]{set: true, null: true} }

// IsZero reports whether the field is absent; encoding/json's omitzero calls it.
func (n Nullable[T]) IsZero() bool { return !n.set }

// IsNull reports whether the field is explicitly null.
func (n Nullable[T]) IsNull() bool { return n.set && n.null }

// Get returns the value and whether there is one (false when absent or null).
func (n Nullable[T]) Get() (T, bool) { return n.value, n.set && !n.null }

// MarshalJSON encodes null or the value. An absent field encodes as null too,
// but omitzero keeps it out of the request.
func (n Nullable[T]) MarshalJSON() ([]byte, error) {
	if !n.set || n.null {
		return []byte("null"), nil
	}
	return json.Marshal(n.value)
}

// UnmarshalJSON records that the field was present, and whether it was null.
// The sandbox relies on it to apply updates exactly as the upstream does.
func (n *Nullable[T]) UnmarshalJSON(b []byte) error {
	n.set = true
	if bytes.Equal(bytes.TrimSpace(b), []byte("null")) {
		var zero T
		n.value, n.null = zero, true
		return nil
	}
	n.null = false
	return json.Unmarshal(b, &n.value)
}

// clearAs returns n with a null replaced by empty, the value the API takes
// as "no value" for a field its spec does not let be null.
func clearAs[T any](n Nullable[T], empty T) Nullable[T] {
	if n.IsNull() {
		return Set(empty)
	}
	return n
}

// notClearable is a field the API cannot clear: a Null for it is refused.
type notClearable struct {
	name   string
	isNull bool
	how    string // what to send instead
}

// refuseNull returns the error for the first field of fs that is Null.
func refuseNull(op Operation, fs ...notClearable) error {
	for _, f := range fs {
		if f.isNull {
			return invalidInput(op, "%s cannot be cleared (the API takes no null for it): %s", f.name, f.how)
		}
	}
	return nil
}
