// Command tokenserver is a minimal token issuer for a Docker distribution registry configured with
// `auth.token`, for tests only. It follows the Docker registry token specification:
//
//	GET /token?service=SERVICE&scope=repository:NAME:pull,push[&scope=...]
//	Authorization: Basic base64(user:pass)      (optional; anonymous gets -anonymous actions)
//	→ 200 {"token": JWT, "access_token": JWT, "expires_in": N, "issued_at": RFC3339}
//
// The JWT is signed with ES256 by -signing-key; its header names the key by "kid" (the
// libtrust key ID distribution 2.8 looks up among the certificates in its rootcertbundle) or, with
// -x5c, by carrying -signing-cert itself. Only the Go standard library is used.
package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"log"
	"math/big"
	"net/http"
	"os"
	"sort"
	"strings"
	"time"
)

type user struct {
	pass    string
	actions map[string]bool // nil: every action
}

type server struct {
	key      *ecdsa.PrivateKey
	certDER  []byte
	kid      string
	x5c      bool
	issuer   string
	service  string
	ttl      time.Duration
	users    map[string]user
	anon     map[string]bool
	now      func() time.Time
	logCalls bool
}

type access struct {
	Type    string   `json:"type"`
	Name    string   `json:"name"`
	Actions []string `json:"actions"`
}

func main() {
	var (
		listen   = flag.String("listen", "127.0.0.1:0", "address to listen on")
		tlsCert  = flag.String("tls-cert", "", "serving certificate (PEM); HTTPS when set")
		tlsKey   = flag.String("tls-key", "", "serving key (PEM)")
		sigKey   = flag.String("signing-key", "", "EC P-256 private key (PEM) that signs tokens")
		sigCert  = flag.String("signing-cert", "", "certificate of -signing-key (PEM), as in the registry's rootcertbundle")
		issuer   = flag.String("issuer", "schedkit-testenv-token-issuer", "iss claim; the registry's auth.token.issuer")
		service  = flag.String("service", "schedkit-testenv-registry", "aud claim; the registry's auth.token.service")
		ttl      = flag.Duration("ttl", 5*time.Minute, "token lifetime")
		anon     = flag.String("anonymous", "", "comma-separated actions granted without credentials (e.g. pull)")
		x5c      = flag.Bool("x5c", false, "put the signing certificate in the JWT header (x5c) instead of a kid")
		logCalls = flag.Bool("v", false, "log every token request")
	)
	users := map[string]user{}
	flag.Func("user", "USER:PASS[:ACTIONS] (repeatable); ACTIONS is e.g. pull or pull+push, default all", func(v string) error {
		parts := strings.SplitN(v, ":", 3)
		if len(parts) < 2 || parts[0] == "" {
			return errors.New("want USER:PASS[:ACTIONS]")
		}
		u := user{pass: parts[1]}
		if len(parts) == 3 && parts[2] != "" && parts[2] != "*" {
			u.actions = splitActions(strings.ReplaceAll(parts[2], "+", ","))
		}
		users[parts[0]] = u
		return nil
	})
	flag.Parse()
	if *sigKey == "" || *sigCert == "" {
		log.Fatal("tokenserver: -signing-key and -signing-cert are required")
	}
	s := &server{issuer: *issuer, service: *service, ttl: *ttl, users: users, x5c: *x5c,
		anon: splitActions(*anon), now: time.Now, logCalls: *logCalls}
	if err := s.loadKeys(*sigKey, *sigCert); err != nil {
		log.Fatalf("tokenserver: %v", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/token", s.handleToken)
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	srv := &http.Server{Addr: *listen, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	var err error
	if *tlsCert != "" {
		err = srv.ListenAndServeTLS(*tlsCert, *tlsKey)
	} else {
		err = srv.ListenAndServe()
	}
	log.Fatalf("tokenserver: %v", err)
}

func splitActions(s string) map[string]bool {
	m := map[string]bool{}
	for _, a := range strings.Split(s, ",") {
		if a = strings.TrimSpace(a); a != "" {
			m[a] = true
		}
	}
	return m
}

func readPEM(path, want string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return nil, fmt.Errorf("%s: no %s PEM block", path, want)
		}
		if strings.Contains(b.Type, want) {
			return b.Bytes, nil
		}
	}
}

func (s *server) loadKeys(keyPath, certPath string) error {
	der, err := readPEM(keyPath, "PRIVATE KEY")
	if err != nil {
		return err
	}
	var k any
	if k, err = x509.ParsePKCS8PrivateKey(der); err != nil {
		if k, err = x509.ParseECPrivateKey(der); err != nil {
			return fmt.Errorf("%s: %v", keyPath, err)
		}
	}
	ec, ok := k.(*ecdsa.PrivateKey)
	if !ok || ec.Curve != elliptic.P256() {
		return fmt.Errorf("%s: want an EC P-256 key", keyPath)
	}
	if s.certDER, err = readPEM(certPath, "CERTIFICATE"); err != nil {
		return err
	}
	cert, err := x509.ParseCertificate(s.certDER)
	if err != nil {
		return fmt.Errorf("%s: %v", certPath, err)
	}
	pub, ok := cert.PublicKey.(*ecdsa.PublicKey)
	if !ok || !pub.Equal(&ec.PublicKey) {
		return fmt.Errorf("%s does not certify the key in %s", certPath, keyPath)
	}
	s.key = ec
	s.kid, err = libtrustKeyID(pub)
	return err
}

// libtrustKeyID is the key ID libtrust (and so distribution 2.8) gives a public key: the first 240
// bits of the SHA-256 of its DER SubjectPublicKeyInfo, base32, in 12 colon-separated groups of 4.
func libtrustKeyID(pub *ecdsa.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(der)
	enc := strings.TrimRight(base32.StdEncoding.EncodeToString(sum[:30]), "=")
	var groups []string
	for i := 0; i < len(enc); i += 4 {
		groups = append(groups, enc[i:min(i+4, len(enc))])
	}
	return strings.Join(groups, ":"), nil
}

func (s *server) handleToken(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		http.Error(w, "only GET is supported", http.StatusMethodNotAllowed)
		return
	}
	q := r.URL.Query()
	if svc := q.Get("service"); svc != "" && svc != s.service {
		jsonError(w, http.StatusBadRequest, "unknown service "+svc)
		return
	}
	subject := ""
	allowed := s.anon
	if name, pass, ok := r.BasicAuth(); ok {
		u, known := s.users[name]
		if !known || subtle.ConstantTimeCompare([]byte(u.pass), []byte(pass)) != 1 {
			w.Header().Set("WWW-Authenticate", `Basic realm="schedkit-testenv-token"`)
			jsonError(w, http.StatusUnauthorized, "bad credentials")
			return
		}
		subject, allowed = name, u.actions
	}
	var granted []access
	for _, scope := range q["scope"] {
		for _, one := range strings.Fields(scope) {
			a, err := parseScope(one)
			if err != nil {
				jsonError(w, http.StatusBadRequest, err.Error())
				return
			}
			var acts []string
			for _, act := range a.Actions {
				// Without credentials only the -anonymous actions; a user without a list gets all.
				if (subject != "" && allowed == nil) || allowed[act] || allowed["*"] {
					acts = append(acts, act)
				}
			}
			a.Actions = acts
			granted = append(granted, a)
		}
	}
	if granted == nil {
		granted = []access{}
	}
	now := s.now()
	tok, err := s.sign(subject, granted, now)
	if err != nil {
		jsonError(w, http.StatusInternalServerError, err.Error())
		return
	}
	if s.logCalls {
		log.Printf("token for %q: %+v", subject, granted)
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"token": tok, "access_token": tok,
		"expires_in": int(s.ttl.Seconds()), "issued_at": now.UTC().Format(time.RFC3339),
	})
}

// parseScope splits TYPE:NAME:ACTIONS; NAME may itself hold colons (a registry host with a port).
func parseScope(s string) (access, error) {
	first, last := strings.Index(s, ":"), strings.LastIndex(s, ":")
	if first < 0 || first == last {
		return access{}, fmt.Errorf("bad scope %q", s)
	}
	acts := splitActions(s[last+1:])
	list := make([]string, 0, len(acts))
	for a := range acts {
		list = append(list, a)
	}
	sort.Strings(list)
	return access{Type: s[:first], Name: s[first+1 : last], Actions: list}, nil
}

func (s *server) sign(subject string, granted []access, now time.Time) (string, error) {
	header := map[string]any{"typ": "JWT", "alg": "ES256"}
	if s.x5c {
		header["x5c"] = []string{base64.StdEncoding.EncodeToString(s.certDER)}
	} else {
		header["kid"] = s.kid
	}
	jti := make([]byte, 16)
	if _, err := rand.Read(jti); err != nil {
		return "", err
	}
	claims := map[string]any{
		"iss": s.issuer, "sub": subject, "aud": s.service,
		"iat": now.Unix(), "nbf": now.Add(-30 * time.Second).Unix(), "exp": now.Add(s.ttl).Unix(),
		"jti": hex.EncodeToString(jti), "access": granted,
	}
	h, err := json.Marshal(header)
	if err != nil {
		return "", err
	}
	c, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	enc := base64.RawURLEncoding
	input := enc.EncodeToString(h) + "." + enc.EncodeToString(c)
	digest := sha256.Sum256([]byte(input))
	r, ss, err := ecdsa.Sign(rand.Reader, s.key, digest[:])
	if err != nil {
		return "", err
	}
	// JWS ES256: R and S, each left-padded to 32 bytes.
	sig := make([]byte, 64)
	fill(sig[:32], r)
	fill(sig[32:], ss)
	return input + "." + enc.EncodeToString(sig), nil
}

func fill(dst []byte, n *big.Int) { n.FillBytes(dst) }

func jsonError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"errors": []map[string]string{{"code": http.StatusText(code), "message": msg}},
	})
}
