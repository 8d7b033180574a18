// Package auth issues and verifies API tokens (JWT, HS256 only: the
// algorithm is pinned and "none" is refused) and holds the demo users of
// the sample city. Roles: viewer (the wall), dispatcher, worker, admin.
package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Roles.
const (
	Viewer     = "viewer"
	Dispatcher = "dispatcher"
	Worker     = "worker"
	Admin      = "admin"
)

// ErrInvalid is returned for a token that is malformed, forged, of another
// algorithm, or expired.
var ErrInvalid = errors.New("invalid token")

// Claims are what a token says about its holder.
type Claims struct {
	Subject string `json:"sub"`
	Name    string `json:"name,omitempty"`
	Role    string `json:"role"`
	// Scope is the admin code of a dispatcher's jurisdiction (a town code)
	// or a worker's grid code; empty means city-wide.
	Scope      string `json:"scope,omitempty"`
	Department string `json:"department,omitempty"` // a worker's department
	// Account is the fingerprint of the account the token was issued for
	// (Fingerprint): a token of an account changed since — its password,
	// role, scope or department — is refused.
	Account   string `json:"acct,omitempty"`
	ExpiresAt int64  `json:"exp"`
	IssuedAt  int64  `json:"iat"`
}

// Issuer signs and verifies tokens with one secret.
type Issuer struct {
	secret []byte
	ttl    time.Duration
	now    func() time.Time
}

// NewIssuer returns an issuer; ttl is the token lifetime (short: hours).
func NewIssuer(secret []byte, ttl time.Duration) *Issuer {
	return &Issuer{secret: secret, ttl: ttl, now: time.Now}
}

var header = base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))

// Sign returns a token for c, setting its issue and expiry times.
func (is *Issuer) Sign(c Claims) (string, error) {
	now := is.now()
	c.IssuedAt, c.ExpiresAt = now.Unix(), now.Add(is.ttl).Unix()
	body, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	signing := header + "." + base64.RawURLEncoding.EncodeToString(body)
	return signing + "." + is.mac(signing), nil
}

// Verify checks a token's algorithm, signature and expiry.
func (is *Issuer) Verify(token string) (Claims, error) {
	var c Claims
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return c, ErrInvalid
	}
	hb, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		return c, ErrInvalid
	}
	var h struct{ Alg string }
	if json.Unmarshal(hb, &h) != nil || h.Alg != "HS256" {
		return c, fmt.Errorf("%w: algorithm %q is not HS256", ErrInvalid, h.Alg)
	}
	if subtle.ConstantTimeCompare([]byte(is.mac(parts[0]+"."+parts[1])), []byte(parts[2])) != 1 {
		return c, fmt.Errorf("%w: bad signature", ErrInvalid)
	}
	body, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil || json.Unmarshal(body, &c) != nil {
		return c, ErrInvalid
	}
	if is.now().Unix() >= c.ExpiresAt {
		return c, fmt.Errorf("%w: expired", ErrInvalid)
	}
	return c, nil
}

func (is *Issuer) mac(s string) string {
	m := hmac.New(sha256.New, is.secret)
	m.Write([]byte(s))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// User is a login account: a demo one with its password (Password), or
// one of the city's with the password's hash (Hash, see LoadUsers).
type User struct {
	Username string
	Password string
	Claims   Claims
	Hash     string
}

// DemoUsers are the sample city's accounts (documented in the README, with
// their passwords). A city's deployment gives its own in a users file
// (LoadUsers; USERS_FILE), which turns these off.
var DemoUsers = []User{
	{Username: "admin", Password: "admin123", Claims: Claims{Subject: "admin", Name: "系统管理员", Role: Admin}},
	{Username: "wall", Password: "wall123", Claims: Claims{Subject: "wall", Name: "大屏", Role: Viewer}},
	{Username: "dispatcher", Password: "dispatcher123", Claims: Claims{Subject: "dispatcher", Name: "值班长 王静", Role: Dispatcher}},
	{Username: "worker", Password: "worker123", Claims: Claims{Subject: "worker", Name: "网格员 李明", Role: Worker, Department: "城市管理局", Scope: "321204004012004"}},
	{Username: "worker2", Password: "worker123", Claims: Claims{Subject: "worker2", Name: "网格员 赵强", Role: Worker, Department: "城市管理局"}},
}

// Login checks a username and password against users. Where users have
// hashed passwords (a users file), an unknown username is checked against
// a dummy hash, so that the time taken does not tell which usernames
// exist; the demo accounts alone are not hashed.
func Login(users []User, username, password string) (Claims, bool) {
	for _, u := range users {
		if subtle.ConstantTimeCompare([]byte(u.Username), []byte(username)) != 1 {
			continue
		}
		ok := subtle.ConstantTimeCompare([]byte(u.Password), []byte(password)) == 1
		if u.Hash != "" {
			ok = checkHash(u.Hash, password)
		}
		if !ok {
			return Claims{}, false
		}
		c := u.Claims
		c.Account = Fingerprint(u)
		return c, true
	}
	if slices.ContainsFunc(users, func(u User) bool { return u.Hash != "" }) {
		checkHash(dummyHash(), password)
	}
	return Claims{}, false
}

// Fingerprint identifies an account as it is now: its username, role,
// scope, department and password (the hash where there is one). A token
// carries the fingerprint of its account at login (Claims.Account); when
// the account changes — a new password after a leak, a dispatcher moved to
// another town, a role taken away — its fingerprint changes and its tokens
// are refused from then on (and its open websockets closed), not when they
// expire. The display name is not in it: renaming someone does not log
// them out. 96 bits of SHA-256; a password hash is salted, so the
// fingerprint, which its holder can read in the token, gives nothing away.
func Fingerprint(u User) string {
	h := sha256.New()
	secret := u.Hash
	if secret == "" {
		secret = "plain:" + u.Password
	}
	for _, s := range []string{"v1", u.Username, u.Claims.Subject, u.Claims.Role, u.Claims.Scope, u.Claims.Department, secret} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil)[:12])
}

// Fingerprints maps each account's subject to its Fingerprint.
func Fingerprints(users []User) map[string]string {
	m := make(map[string]string, len(users))
	for _, u := range users {
		m[u.Claims.Subject] = Fingerprint(u)
	}
	return m
}

// DemoWorkerPassword is the password of every demo worker account (the
// README's worker/worker123): the grid roster uses it too, so it is exactly
// as (un)safe as the demo users and exists only where they do.
const DemoWorkerPassword = "worker123"

// GridCell is one grid cell of the city, for the demo roster.
type GridCell struct {
	Code       string // the grid code (12+ digits)
	Department string // the department its worker belongs to (from routing)
}

// GridRoster returns the demo roster of grid workers: one per cell, user
// and subject "gw-<grid code>", named 网格员 and a Chinese name derived from
// the code (the same on every start), role worker, scope the cell, with the
// demo workers' password. Add it to the users only together with
// DemoUsers (DemoAccounts); a deployment without demo users has no roster.
func GridRoster(cells []GridCell) []User {
	out := make([]User, 0, len(cells))
	for _, c := range cells {
		if c.Code == "" {
			continue
		}
		id := "gw-" + c.Code
		out = append(out, User{Username: id, Password: DemoWorkerPassword, Claims: Claims{Subject: id, Name: "网格员 " + demoName(c.Code), Role: Worker, Department: c.Department, Scope: c.Code}})
	}
	return out
}

// DemoAccounts is the demo users followed by the grid roster and a duty
// officer of each department.
func DemoAccounts(cells []GridCell, departments []string) []User {
	out := append(append([]User(nil), DemoUsers...), GridRoster(cells)...)
	return append(out, DutyOfficers(departments)...)
}

// DutyOfficers returns a demo duty officer (值班员) for each department:
// user and subject DutyID(department), role worker, no cell, the demo
// workers' password. They are the people of the departments that handle
// their cases themselves — the fire brigade, the police, the ambulance
// service, a utility's emergency crew (联动单位) — who take (签收) the tasks
// dispatched to their department, where a grid worker takes the cases of
// his cell. Like the roster, only together with DemoUsers.
func DutyOfficers(departments []string) []User {
	out := make([]User, 0, len(departments))
	seen := map[string]bool{}
	for _, d := range departments {
		if d = strings.TrimSpace(d); d == "" || seen[d] {
			continue
		}
		seen[d] = true
		id := DutyID(d)
		out = append(out, User{Username: id, Password: DemoWorkerPassword, Claims: Claims{Subject: id, Name: "值班员 " + demoName(id), Role: Worker, Department: d}})
	}
	return out
}

// DutyID is the user name of a department's demo duty officer: "duty-" and
// the first 8 hex digits of the SHA-256 of the department's name (ASCII,
// and the same on every start).
func DutyID(department string) string {
	h := sha256.Sum256([]byte(department))
	return fmt.Sprintf("duty-%x", h[:4])
}

var (
	surnames = []rune("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤")
	given    = []rune("伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红鹏飞辉建国志海波宁斌宇浩凯晨欣怡佳琳雪梅婷慧颖鑫磊亮成龙峰文博")
)

// demoName derives a stable two- or three-character name from s (FNV-1a).
func demoName(s string) string {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h ^= uint32(s[i])
		h *= 16777619
	}
	name := []rune{surnames[h%uint32(len(surnames))]}
	h /= uint32(len(surnames))
	name = append(name, given[h%uint32(len(given))])
	h /= uint32(len(given))
	if h%3 != 0 {
		name = append(name, given[(h/3)%uint32(len(given))])
	}
	return string(name)
}
