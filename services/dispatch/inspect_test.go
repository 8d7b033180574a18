package dispatch

import "testing"

func TestInScope(t *testing.T) {
	for _, tc := range []struct {
		scope, grid string
		want        bool
	}{
		{"321204004012004", "321204004012004", true},
		{"321204004012004", "321204004012005", false},
		{"321204004010", "321204004010003", true},
		{"321204004010", "321204004011003", false}, // trailing zeros are not a wildcard
		{"321204004000", "321204004017006", true},
		{"321204004000", "321204005001001", false},
		{"", "321204004012004", false},
	} {
		if got := inScope(tc.scope, tc.grid); got != tc.want {
			t.Errorf("inScope(%s, %s) = %v", tc.scope, tc.grid, got)
		}
	}
}
