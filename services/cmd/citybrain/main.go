// Command citybrain runs the 城市大脑 IOC platform: every service in one
// process (-target=all, the default, with an embedded broker and Redis
// when KAFKA_BROKERS and REDIS_ADDR are unset) or one service per process.
//
//	citybrain [-target=all|ingest|enricher|dispatcher|realtime|api]
//	citybrain rebuild   flush the Redis projections and replay Kafka into them
//	citybrain topics    create the topics and exit
//	citybrain passwd    ask for a password (or read it on standard input), print its hash
//	                    for the users file (USERS_FILE)
//	citybrain servers   run only the embedded broker and Redis, for single-service
//	                    targets on one machine without Java (tests, benchmarks)
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	_ "time/tzdata" // the city's zone without the host's zoneinfo

	"github.com/citybrain-ioc/citybrain/services/app"
	"github.com/citybrain-ioc/citybrain/services/auth"
	"github.com/citybrain-ioc/citybrain/services/config"
	"github.com/citybrain-ioc/citybrain/services/embedded"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "citybrain:", err)
		os.Exit(1)
	}
}

func run() error {
	fs := flag.NewFlagSet("citybrain", flag.ContinueOnError)
	target := fs.String("target", "all", "service to run: all, ingest, enricher, dispatcher, realtime, api")
	if err := fs.Parse(os.Args[1:]); err != nil {
		return err
	}
	if fs.Arg(0) == "passwd" { // needs no configuration
		return passwdTerminal(os.Stdin, os.Stdout, os.Stderr)
	}
	cfg, err := config.Load(os.Getenv)
	if err != nil {
		return fmt.Errorf("configuration:\n%w", err)
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))
	slog.SetDefault(log)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	switch cmd := fs.Arg(0); cmd {
	case "":
		return app.Run(ctx, cfg, *target, log)
	case "rebuild":
		n, err := app.Rebuild(ctx, cfg, log)
		if err != nil {
			return err
		}
		fmt.Printf("rebuilt projections from %d lifecycle records\n", n)
		return nil
	case "topics":
		return app.CreateTopics(ctx, cfg, log)
	case "servers":
		return servers(ctx, cfg, fs.Args()[1:])
	default:
		return fmt.Errorf("unknown command %q (want rebuild, topics, passwd or servers)", cmd)
	}
}

// servers runs the embedded Kafka-protocol broker (persisting under
// DATA_DIR) and Redis on their own, printing KAFKA_BROKERS= and REDIS_ADDR=
// lines for the single-service targets to use, until interrupted.
func servers(ctx context.Context, cfg config.Config, args []string) error {
	fs := flag.NewFlagSet("servers", flag.ContinueOnError)
	kafkaPort := fs.Int("kafka-port", cfg.EmbeddedKafkaPort, "broker port (0: any free port)")
	redisAddr := fs.String("redis-addr", "127.0.0.1:0", "Redis address")
	if err := fs.Parse(args); err != nil {
		return err
	}
	k, err := embedded.StartKafka(cfg.DataDir, *kafkaPort, cfg.EmbeddedKafkaSync)
	if err != nil {
		return err
	}
	defer k.Close()
	r, err := embedded.StartRedisAt(*redisAddr)
	if err != nil {
		return err
	}
	defer r.Close()
	fmt.Printf("KAFKA_BROKERS=%s\nREDIS_ADDR=%s\n", k.Brokers()[0], r.Addr())
	<-ctx.Done()
	return nil
}

// passwdTerminal is passwd, asking for the password twice without echoing
// it when standard input is a terminal (stty -echo), and reading one line
// otherwise (printf '%s\n' '…' | citybrain passwd).
func passwdTerminal(in *os.File, out, prompt io.Writer) error {
	st, err := in.Stat()
	if err != nil || st.Mode()&os.ModeCharDevice == 0 {
		return passwd(in, out)
	}
	stty := func(arg string) error {
		cmd := exec.Command("stty", arg)
		cmd.Stdin = in
		return cmd.Run()
	}
	if err := stty("-echo"); err != nil {
		return fmt.Errorf("cannot turn off the terminal's echo (%w): pipe the password in instead", err)
	}
	defer func() { _ = stty("echo") }()
	r := bufio.NewReader(in)
	read := func(label string) (string, error) {
		_, _ = fmt.Fprint(prompt, label)
		line, err := r.ReadString('\n')
		_, _ = fmt.Fprintln(prompt)
		return strings.TrimRight(line, "\r\n"), err
	}
	pw, err := read("password: ")
	if err != nil {
		return err
	}
	again, err := read("again: ")
	if err != nil {
		return err
	}
	if pw != again {
		return errors.New("the two passwords differ")
	}
	return passwd(strings.NewReader(pw+"\n"), out)
}

// passwd reads a password (the first line of in) and prints its hash for
// the users file. The password must be at least 8 characters of at least
// three kinds (lower case, upper case, digits, others), as 等级保护
// asks of passwords.
func passwd(in io.Reader, out io.Writer) error {
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	pw := strings.TrimRight(line, "\r\n")
	if err := auth.CheckStrength(pw); err != nil {
		return err
	}
	h, err := auth.HashPassword(pw)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(out, h)
	return err
}
