package taxonomy

import "testing"

func TestLookup(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"city.environment.garbage", "city.environment.garbage"},
		{"垃圾堆放", "city.environment.garbage"},
		{"119", "emergency.fire"},
		{"SMOKE", "emergency.fire"},
		{" 井盖缺失 ", "city.component.manhole"},
	} {
		c, err := Lookup(tc.in)
		if err != nil || c.Code != tc.want {
			t.Errorf("Lookup(%q) = %q, %v; want %q", tc.in, c.Code, err, tc.want)
		}
	}
	if _, err := Lookup("不存在"); err == nil {
		t.Error("want error for unknown category")
	}
}

func TestTableIsComplete(t *testing.T) {
	for _, c := range All() {
		if c.Name == "" || c.NameEn == "" || c.Family == "" || c.Department == "" || c.Severity < 1 || c.Severity > 4 || c.Allowed <= 0 {
			t.Errorf("incomplete category %+v", c)
		}
	}
}
