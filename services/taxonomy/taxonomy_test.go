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

// Every category a grid worker does not report names one that exists (a
// renamed code would silently put it back on the phone's form), and what a
// patrol meets most is on it.
func TestOnPatrol(t *testing.T) {
	for code := range notOnPatrol {
		if _, ok := byCode[code]; !ok {
			t.Errorf("notOnPatrol names %q, not a category", code)
		}
	}
	for _, code := range []string{"city.component.manhole", "city.street.vendor", "emergency.fire", "emergency.safety_hazard", "other"} {
		if c, _ := Lookup(code); !c.OnPatrol() {
			t.Errorf("%s is not on the patrol's form", code)
		}
	}
	for _, code := range []string{"service.consult", "emergency.weather"} {
		if c, _ := Lookup(code); c.OnPatrol() {
			t.Errorf("%s is on the patrol's form", code)
		}
	}
}
