package event_test

import (
	"testing"

	"github.com/citybrain-ioc/citybrain/services/event"
)

func TestMaskText(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"市民王先生（13812345678）反映路灯不亮", "市民王先生（138****5678）反映路灯不亮"},
		{"联系电话138-1234-5678，请回电", "联系电话138-****-5678，请回电"},
		{"电话 138 1234 5678。", "电话 138 **** 5678。"},
		{"+86 13812345678", "+86 138****5678"},
		{"+8613812345678", "+86138****5678"},
		{"座机0512-87654321或021-1234567", "座机0512-****4321或021-***4567"},
		{"座机051287654321", "座机0512****4321"},
		{"身份证320602199001011234", "身份证320602********1234"},
		{"身份证号11010519491231002X。", "身份证号110105********002X。"},
		{"手机１３８１２３４５６７８", "手机１３８****５６７８"},
		// Left alone: the hotline, a house number, amounts, dates, a ticket
		// reference, a number too long to be a phone, an 18-digit run
		// without a birth date, an 11-digit run not starting 13–19.
		{"拨打12345热线", "拨打12345热线"},
		{"人民路128号3单元502室", "人民路128号3单元502室"},
		{"罚款2000元，2026-12-06 14:30", "罚款2000元，2026-12-06 14:30"},
		{"工单GD2026120600012", "工单GD2026120600012"},
		{"编号138123456789", "编号138123456789"},
		{"流水号123456789012345678", "流水号123456789012345678"},
		{"12812345678", "12812345678"},
		{"13812345678 13812345678", "138****5678 138****5678"},
		// Masked already (or partly): left as it is.
		{"电话138****5678", "电话138****5678"},
		{"010***0100 0000000", "010***0100 0000000"},
		{"0100000100 0000000", "010***0100 0000000"},
		{"", ""},
		{"没有数字", "没有数字"},
	} {
		if got := event.MaskText(c.in); got != c.want {
			t.Errorf("MaskText(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func FuzzMaskText(f *testing.F) {
	for _, s := range []string{"13812345678", "0512-87654321", "11010519491231002X", "１３８", "a- 1-", "\xff1", "0100000100 0000000"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := event.MaskText(s)
		if len([]rune(got)) != len([]rune(s)) {
			t.Fatalf("MaskText(%q) = %q: length changed", s, got)
		}
		if again := event.MaskText(got); again != got {
			t.Fatalf("MaskText not idempotent on %q: %q then %q", s, got, again)
		}
	})
}
