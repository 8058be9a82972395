// This file holds the capped label sets: the first names seen keep their
// own series, every later one shares the Other series, so that a client
// inventing names cannot grow the registry without bound.

package metrics

import (
	"slices"
	"sync"
)

// labelSet maps names to their bound series, for at most max names beside
// the fixed ones.
type labelSet[T any] struct {
	max  int
	make func(label string) T

	mu    sync.RWMutex
	byKey map[string]T
	// keys are the names kept in order of arrival (fixed labels excluded).
	keys  []string
	fixd  map[string]T
	other T
}

func newLabelSet[T any](max int, make func(string) T) *labelSet[T] {
	return &labelSet[T]{max: max, make: make, byKey: map[string]T{}, fixd: map[string]T{}}
}

// fixed adds a label that does not count against the cap (Other and the
// like); the first one added is the overflow label.
func (s *labelSet[T]) fixed(label string) {
	v := s.make(label)
	if len(s.fixd) == 0 {
		s.other = v
	}
	s.fixd[label] = v
}

// get returns name's series: its own while the cap allows, else Other's.
func (s *labelSet[T]) get(name string) T { return s.getKeyed(name) }

// getKeyed is get; the name is kept, in order, for keys.
func (s *labelSet[T]) getKeyed(name string) T {
	if v, ok := s.fixd[name]; ok {
		return v
	}
	s.mu.RLock()
	v, ok := s.byKey[name]
	s.mu.RUnlock()
	if ok {
		return v
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if v, ok := s.byKey[name]; ok {
		return v
	}
	if len(s.byKey) >= s.max {
		return s.other
	}
	v = s.make(name)
	s.byKey[name] = v
	s.keys = append(s.keys, name)
	return v
}

// names returns the names kept, in order of arrival.
func (s *labelSet[T]) names() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return slices.Clone(s.keys)
}

// size is the number of names kept, fixed labels excluded.
func (s *labelSet[T]) size() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.byKey)
}
