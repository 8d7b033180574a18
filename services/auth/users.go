package auth

import (
	"bytes"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"

	"gopkg.in/yaml.v3"
)

// A city's accounts come from a users file (USERS_FILE), its passwords
// stored as PBKDF2-HMAC-SHA256 hashes (`citybrain passwd` makes one):
//
//	users:
//	  - username: wangjing
//	    password: pbkdf2-sha256$600000$<salt>$<hash>
//	    name: 值班长 王静
//	    role: dispatcher          # viewer, dispatcher, worker or admin
//	    scope: "321204004"        # a dispatcher's town, a worker's grid cell; empty: city-wide
//	    department: 城市管理局     # a worker's department
//
// The demo accounts (DemoUsers, with their passwords in the README) are for
// the sample city only.

// HashIterations is the PBKDF2 work factor of new hashes (OWASP's figure
// for HMAC-SHA256); a hash keeps its own, so it can be raised later.
const HashIterations = 600_000

const hashScheme = "pbkdf2-sha256"

// HashPassword returns the stored form of a password.
func HashPassword(password string) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key, err := pbkdf2.Key(sha256.New, password, salt, HashIterations, 32)
	if err != nil {
		return "", err
	}
	enc := base64.RawStdEncoding
	return fmt.Sprintf("%s$%d$%s$%s", hashScheme, HashIterations, enc.EncodeToString(salt), enc.EncodeToString(key)), nil
}

// CheckStrength refuses a password shorter than 8 characters or of fewer
// than three kinds of character (lower case, upper case, digits, others).
func CheckStrength(pw string) error {
	var lower, upper, digit, other int
	for _, r := range pw {
		switch {
		case r >= 'a' && r <= 'z':
			lower = 1
		case r >= 'A' && r <= 'Z':
			upper = 1
		case r >= '0' && r <= '9':
			digit = 1
		default:
			other = 1
		}
	}
	if n := len([]rune(pw)); n < 8 || n > 128 {
		return fmt.Errorf("password: %d characters, want 8 to 128", n)
	}
	if lower+upper+digit+other < 3 {
		return errors.New("password: use at least three of lower case, upper case, digits and other characters")
	}
	return nil
}

// parseHash splits a stored hash.
func parseHash(h string) (iter int, salt, key []byte, err error) {
	parts := strings.Split(h, "$")
	if len(parts) != 4 || parts[0] != hashScheme {
		return 0, nil, nil, fmt.Errorf("not a %s$<iterations>$<salt>$<hash> hash", hashScheme)
	}
	iter, err = strconv.Atoi(parts[1])
	if err != nil || iter < 100_000 || iter > 10_000_000 {
		return 0, nil, nil, fmt.Errorf("iterations %q: want 100000 to 10000000", parts[1])
	}
	enc := base64.RawStdEncoding
	if salt, err = enc.DecodeString(parts[2]); err != nil || len(salt) < 8 {
		return 0, nil, nil, errors.New("bad salt")
	}
	if key, err = enc.DecodeString(parts[3]); err != nil || len(key) < 16 {
		return 0, nil, nil, errors.New("bad hash")
	}
	return iter, salt, key, nil
}

// hashSlots bounds the hashes computed at once to half the cores (~0.1 s
// of a core each): logins cost what they must, and a flood of them —
// guesses at many usernames pass the per-username limit — waits its turn
// instead of taking every core from the pipeline.
var hashSlots = make(chan struct{}, max(1, runtime.GOMAXPROCS(0)/2))

// checkHash reports whether password matches the stored hash h.
func checkHash(h, password string) bool {
	iter, salt, key, err := parseHash(h)
	if err != nil {
		return false
	}
	hashSlots <- struct{}{}
	defer func() { <-hashSlots }()
	got, err := pbkdf2.Key(sha256.New, password, salt, iter, len(key))
	return err == nil && subtle.ConstantTimeCompare(got, key) == 1
}

// dummyHash is checked against when no user has the name given, so that a
// wrong username takes as long as a wrong password.
var dummyHash = sync.OnceValue(func() string {
	h, err := HashPassword("no such user")
	if err != nil {
		panic(err)
	}
	return h
})

// usersFile is the YAML of a users file.
type usersFile struct {
	Users []struct {
		Username   string `yaml:"username"`
		Password   string `yaml:"password"`
		Name       string `yaml:"name"`
		Role       string `yaml:"role"`
		Scope      string `yaml:"scope"`
		Department string `yaml:"department"`
	} `yaml:"users"`
}

// LoadUsers reads a users file. unit, when not nil, checks a scope and
// returns the code the city's places carry (a town given as 321204004 is
// 321204004000). Every problem is reported, with the entry it is in; no
// account is taken from a file with a problem.
func LoadUsers(path string, unit func(code string) (string, bool)) ([]User, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("users file: %w", err)
	}
	var f usersFile
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("users file %s: %w", path, err)
	}
	var errs []error
	seen := map[string]bool{}
	var out []User
	for i, u := range f.Users {
		bad := func(format string, a ...any) {
			errs = append(errs, fmt.Errorf("users file %s: entry %d (%q): %s", path, i+1, u.Username, fmt.Sprintf(format, a...)))
		}
		switch {
		case u.Username == "" || strings.ContainsAny(u.Username, " \t\r\n") || len(u.Username) > 64:
			bad("username: 1 to 64 characters, no spaces")
		case seen[u.Username]:
			bad("username given twice")
		}
		seen[u.Username] = true
		if _, _, _, err := parseHash(u.Password); err != nil {
			bad("password: %v (hash it with: citybrain passwd)", err)
		}
		switch u.Role {
		case Viewer, Dispatcher, Worker, Admin:
		default:
			bad("role %q: want viewer, dispatcher, worker or admin", u.Role)
		}
		if u.Scope != "" && unit != nil {
			if code, ok := unit(u.Scope); ok {
				u.Scope = code
			} else {
				bad("scope %q: no town, community or grid cell of the city has this code", u.Scope)
			}
		}
		name := u.Name
		if name == "" {
			name = u.Username
		}
		out = append(out, User{Username: u.Username, Hash: u.Password, Claims: Claims{Subject: u.Username, Name: name, Role: u.Role, Scope: u.Scope, Department: u.Department}})
	}
	if len(f.Users) == 0 {
		errs = append(errs, fmt.Errorf("users file %s: no users", path))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}
