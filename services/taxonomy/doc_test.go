package taxonomy

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite docs/taxonomy.md from the table")

// docs/taxonomy.md is generated from the table and kept true by this test
// (go test ./taxonomy -update rewrites it).
func TestDocIsCurrent(t *testing.T) {
	var b strings.Builder
	b.WriteString("# Category taxonomy\n\n")
	b.WriteString("Generated from `services/taxonomy` by `go test ./taxonomy -update`; a test keeps it current.\n\n")
	b.WriteString("Every report gets one category. Sources name it by code, by Chinese name or by one of the aliases ")
	b.WriteString("(数字城管 事件/部件 小类 names, 12345 诉求 contents, alarm types such as `119` or `smoke`, traffic event types, ")
	b.WriteString("CAP categories). The family decides fusion (only reports of one family fuse; see `services/enrich/fusion.go`); ")
	b.WriteString("the department and time allowed are the default routing and deadline. Severity: 1 = I 特别重大 … 4 = IV 一般.\n\n")
	b.WriteString("| code | 名称 | English | family | 责任单位 | severity | time allowed | aliases |\n|---|---|---|---|---|---|---|---|\n")
	for _, c := range All() {
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s | %d | %s | %s |\n", c.Code, c.Name, c.NameEn, c.Family, c.Department, c.Severity, c.Allowed, strings.Join(c.Aliases, "、"))
	}
	const path = "../../docs/taxonomy.md"
	if *update {
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil || string(got) != b.String() {
		t.Fatalf("docs/taxonomy.md is out of date: run go test ./taxonomy -update (%v)", err)
	}
}
