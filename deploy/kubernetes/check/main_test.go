package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// copyTree copies deploy/kubernetes (without check/) to a temporary directory named kubernetes,
// applies edit to one file, and returns the copy's overlays/county.
func copyTree(t *testing.T, file, old, new string) string {
	t.Helper()
	src, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "kubernetes")
	err = filepath.Walk(src, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if info.IsDir() {
			if info.Name() == "check" {
				return filepath.SkipDir
			}
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if rel == file {
			if !strings.Contains(string(b), old) {
				t.Fatalf("%s does not contain %q", file, old)
			}
			b = []byte(strings.Replace(string(b), old, new, 1))
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dst, "overlays", "county")
}

func problemsOf(t *testing.T, dir string) string {
	t.Helper()
	known, err := configVars()
	if err != nil {
		t.Fatal(err)
	}
	objs, err := build(dir)
	if err != nil {
		return err.Error()
	}
	return strings.Join(check(objs, known, true), "\n")
}

func TestCommittedManifestsPass(t *testing.T) {
	if p := problemsOf(t, "../overlays/county"); p != "" {
		t.Fatalf("the county overlay has problems:\n%s", p)
	}
	if _, _, err := checkDashboard("../../grafana/citybrain.json"); err != nil {
		t.Fatal(err)
	}
}

// Each mistake is caught, with a message that names it.
func TestMistakesAreCaught(t *testing.T) {
	for _, tc := range []struct {
		name, file, old, new, want string
	}{
		{"misspelt field", "base/api.yaml", "periodSeconds: 5", "periodSecond: 5", `unknown field "spec.template.spec.containers[0].readinessProbe.periodSecond"`},
		{"wrong type", "base/ingest.yaml", "replicas: 2", "replicas: two", "replicas"},
		{"wrong probe path", "base/enricher.yaml", "path: /readyz", "path: /ready", "readiness probe: want GET /readyz"},
		{"wrong target", "base/realtime.yaml", `args: ["-target=realtime"]`, `args: ["-target=api"]`, "want [-target=realtime]"},
		{"no limits", "base/dispatcher.yaml", "            limits:\n              cpu: \"1\"\n", "            limits:\n", "cpu request and limit are required"},
		{"service selects nothing", "base/api.yaml", "  selector:\n    app.kubernetes.io/name: citybrain\n    app.kubernetes.io/component: api", "  selector:\n    app.kubernetes.io/name: citybrain\n    app.kubernetes.io/component: apis", "Service citybrain-api: selector matches []"},
		{"lag HPA on another group", "base/autoscaling.yaml", "group: citybrain.citybrain-dispatcher", "group: citybrain-dispatcher", "want group=citybrain.citybrain-dispatcher"},
		{"more consumers than partitions", "overlays/county/sizes.yaml", "maxReplicas: 6", "maxReplicas: 8", "maxReplicas 8 > KAFKA_PARTITIONS 6"},
		{"unknown variable", "base/config.yaml", "LOG_LEVEL: info", "LOGLEVEL: info", "LOGLEVEL is not a variable services/config reads"},
		{"ingress to a missing service", "overlays/county/ingress.yaml", "name: citybrain-realtime", "name: citybrain-realtim", "Service citybrain-realtim, which does not exist"},
		{"photos on each pod's disk", "overlays/county/config.yaml", "MEDIA_S3_BUCKET: ioc-jiangyan-media", `MEDIA_S3_BUCKET: ""`, "MEDIA_S3_ENDPOINT and MEDIA_S3_BUCKET are required with more than one api pod"},
		{"no media credentials", "overlays/county/auth.env.example", "MEDIA_S3_SECRET_KEY=replace-with-the-bucket-users-secret\n", "", "MEDIA_S3_SECRET_KEY missing"},
		{"topics job runs the service", "base/topics-job.yaml", `args: ["topics"]`, `args: ["-target=all"]`, "want one container with args [topics]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := problemsOf(t, copyTree(t, tc.file, tc.old, tc.new))
			if !strings.Contains(got, tc.want) {
				t.Fatalf("want a problem containing %q, got:\n%s", tc.want, got)
			}
		})
	}
}
