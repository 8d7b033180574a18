// Command composecheck validates deploy/docker-compose.yml without Docker: it loads the file with
// compose-go (the loader Docker Compose itself uses: interpolation, the compose-spec JSON schema,
// and consistency checks such as depends_on naming a defined service), then checks what this
// project relies on: every citybrain target runs as its own service from the one image, against
// the compose Kafka and Redis, after the one-shot `citybrain topics`. The Dockerfile each build
// names is parsed and linted with BuildKit's own Dockerfile front end (unknown instructions or
// flags, and the build checks `docker build --check` runs, fail the check).
//
//	cd deploy/composecheck && GOWORK=off go run . ../docker-compose.yml
//
// It is its own module (not in go.work) so the services never depend on compose-go.
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/linter"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
)

var targets = []string{"ingest", "enricher", "dispatcher", "realtime", "api"}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: composecheck path/to/docker-compose.yml")
		os.Exit(2)
	}
	project, err := load(os.Args[1])
	if err != nil {
		fmt.Fprintf(os.Stderr, "composecheck: %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
	problems := check(project)
	for _, p := range problems {
		fmt.Fprintf(os.Stderr, "composecheck: %s: %s\n", os.Args[1], p)
	}
	if len(problems) > 0 {
		os.Exit(1)
	}
	fmt.Printf("composecheck: %s valid (compose-spec schema and project checks): services %s\n",
		os.Args[1], strings.Join(project.ServiceNames(), " "))
}

func load(path string) (*types.Project, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	opts, err := cli.NewProjectOptions([]string{abs},
		cli.WithWorkingDirectory(filepath.Dir(abs)),
		cli.WithOsEnv,
		cli.WithConsistency(true),
		cli.WithResolvedPaths(true),
	)
	if err != nil {
		return nil, err
	}
	return opts.LoadProject(context.Background())
}

func check(p *types.Project) []string {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	for _, name := range []string{"kafka", "redis", "topics"} {
		if _, err := p.GetService(name); err != nil {
			bad("service %q is missing", name)
		}
	}
	if kafka, err := p.GetService("kafka"); err == nil {
		if v := env(kafka, "KAFKA_AUTO_CREATE_TOPICS_ENABLE"); v != "false" {
			bad("kafka: KAFKA_AUTO_CREATE_TOPICS_ENABLE is %q, want \"false\" (topics are created explicitly)", v)
		}
		if !strings.Contains(env(kafka, "KAFKA_PROCESS_ROLES"), "controller") {
			bad("kafka: not a KRaft combined broker+controller")
		}
		if kafka.HealthCheck == nil {
			bad("kafka: no healthcheck, so depends_on service_healthy cannot work")
		}
	}
	if redis, err := p.GetService("redis"); err == nil && redis.HealthCheck == nil {
		bad("redis: no healthcheck")
	}

	var image string
	if topics, err := p.GetService("topics"); err == nil {
		image = topics.Image
		if !slices.Equal([]string(topics.Command), []string{"topics"}) {
			bad("topics: command is %q, want [topics]", topics.Command)
		}
		if topics.Restart != "no" && topics.Restart != "" {
			bad("topics: restart is %q; a one-shot must not restart", topics.Restart)
		}
	}
	for _, t := range targets {
		s, err := p.GetService(t)
		if err != nil {
			bad("service %q (citybrain -target=%s) is missing", t, t)
			continue
		}
		if s.Image != image {
			bad("%s: image %q differs from the topics service's %q (one image for all targets)", t, s.Image, image)
		}
		if want := []string{"-target=" + t}; !slices.Equal([]string(s.Command), want) {
			bad("%s: command is %q, want %q", t, s.Command, want)
		}
		if v := env(s, "KAFKA_BROKERS"); v != "kafka:9092" {
			bad("%s: KAFKA_BROKERS is %q, want kafka:9092", t, v)
		}
		if v := env(s, "REDIS_ADDR"); v != "redis:6379" {
			bad("%s: REDIS_ADDR is %q, want redis:6379", t, v)
		}
		if d, ok := s.DependsOn["topics"]; !ok || d.Condition != types.ServiceConditionCompletedSuccessfully {
			bad("%s: does not wait for topics (depends_on topics: service_completed_successfully)", t)
		}
		if s.Build == nil {
			bad("%s: no build section", t)
		} else if df := dockerfilePath(s.Build); !exists(df) {
			bad("%s: Dockerfile %s does not exist", t, df)
		}
	}
	dockerfiles := map[string]bool{}
	for _, s := range p.Services {
		if s.Build != nil {
			if df := dockerfilePath(s.Build); !dockerfiles[df] && exists(df) {
				dockerfiles[df] = true
				for _, e := range checkDockerfile(df) {
					bad("%s: %s", df, e)
				}
			}
		}
		for _, v := range s.Volumes {
			if v.Type == types.VolumeTypeBind && !exists(v.Source) {
				bad("%s: bind-mounted %s does not exist", s.Name, v.Source)
			}
		}
	}
	return problems
}

func dockerfilePath(b *types.BuildConfig) string {
	if filepath.IsAbs(b.Dockerfile) {
		return b.Dockerfile
	}
	return filepath.Join(b.Context, b.Dockerfile)
}

// checkDockerfile parses and lints a Dockerfile as BuildKit does before a build.
func checkDockerfile(path string) []string {
	f, err := os.Open(path)
	if err != nil {
		return []string{err.Error()}
	}
	defer f.Close()
	res, err := parser.Parse(f)
	if err != nil {
		return []string{err.Error()}
	}
	var out []string
	for _, w := range res.Warnings {
		out = append(out, "warning: "+w.Short)
	}
	lint := linter.New(&linter.Config{Warn: func(rule, _, _, msg string, loc []parser.Range) {
		line := 0
		if len(loc) > 0 {
			line = loc[0].Start.Line
		}
		out = append(out, fmt.Sprintf("line %d: %s: %s", line, rule, msg))
	}})
	stages, _, err := instructions.Parse(res.AST, lint)
	if err != nil {
		return append(out, err.Error())
	}
	if len(stages) == 0 {
		out = append(out, "no build stage")
	}
	return out
}

func env(s types.ServiceConfig, key string) string {
	if v, ok := s.Environment[key]; ok && v != nil {
		return *v
	}
	return ""
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
