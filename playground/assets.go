// This file holds the embedded GraphiQL build and serves it: the gzipped files
// under assets/, the manifest that names them, and the HTTP logic for sending
// them compressed or not.

package playground

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The files are stored gzipped (see update-assets.sh): that keeps the
// repository and the binary small, and almost every client accepts gzip.
//
//go:embed all:assets
var assetsFS embed.FS

// immutableCache is safe because every asset name carries a content hash.
const immutableCache = "public, max-age=31536000, immutable"

// manifest names the hashed files that play each role in the page. It is
// written by update-assets.sh from esbuild's metafile.
type manifest struct {
	GraphiQL string `json:"graphiql"`
	Script   string `json:"script"`
	Style    string `json:"style"`
	Workers  struct {
		Editor  string `json:"editor"`
		JSON    string `json:"json"`
		GraphQL string `json:"graphql"`
	} `json:"workers"`
}

// asset is one embedded file, keyed by the name it is served under.
type asset struct {
	gz          []byte
	contentType string
	etag        string // of the uncompressed representation
	gzipETag    string // of the gzip representation; they must differ

	plainOnce sync.Once
	plain     []byte
	plainErr  error
}

// bundle is the parsed embedded build.
type bundle struct {
	manifest manifest
	assets   map[string]*asset
}

// loadBundle reads the embedded build once, on first use, instead of at init
// so that importing the package costs nothing until a Handler is built.
var loadBundle = sync.OnceValues(func() (*bundle, error) {
	raw, err := assetsFS.ReadFile("assets/manifest.json")
	if err != nil {
		return nil, fmt.Errorf("playground: embedded manifest: %w", err)
	}
	b := &bundle{assets: map[string]*asset{}}
	if err := json.Unmarshal(raw, &b.manifest); err != nil {
		return nil, fmt.Errorf("playground: embedded manifest: %w", err)
	}
	err = fs.WalkDir(assetsFS, "assets", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".gz") {
			return err
		}
		data, err := assetsFS.ReadFile(p)
		if err != nil {
			return err
		}
		name := strings.TrimSuffix(strings.TrimPrefix(p, "assets/"), ".gz")
		sum := sha256.Sum256(data)
		tag := hex.EncodeToString(sum[:12])
		b.assets[name] = &asset{
			gz:          data,
			contentType: contentType(name),
			etag:        `"` + tag + `"`,
			gzipETag:    `"` + tag + `-gzip"`,
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("playground: embedded assets: %w", err)
	}
	m := b.manifest
	for _, name := range []string{m.Script, m.Style, m.Workers.Editor, m.Workers.JSON, m.Workers.GraphQL} {
		if b.assets[name] == nil {
			return nil, fmt.Errorf("playground: manifest names %q, which is not embedded", name)
		}
	}
	if m.GraphiQL != GraphiQLVersion {
		return nil, fmt.Errorf("playground: embedded GraphiQL is %s but GraphiQLVersion is %s; run update-assets.sh", m.GraphiQL, GraphiQLVersion)
	}
	return b, nil
})

// contentType covers only the extensions update-assets.sh emits; anything
// else is served as opaque bytes rather than guessed at.
func contentType(name string) string {
	switch path.Ext(name) {
	case ".js":
		return "text/javascript; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	default:
		return "application/octet-stream"
	}
}

// serve writes the asset, gzipped when the client accepts it. http.ServeContent
// handles HEAD, conditional requests (ETag) and ranges for both forms.
func (a *asset) serve(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", a.contentType)
	h.Set("Cache-Control", immutableCache)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Add("Vary", "Accept-Encoding")
	if acceptsGzip(r.Header.Get("Accept-Encoding")) {
		h.Set("Content-Encoding", "gzip")
		h.Set("ETag", a.gzipETag)
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.gz))
		return
	}
	plain, err := a.decompressed()
	if err != nil {
		http.Error(w, "corrupt embedded asset", http.StatusInternalServerError)
		return
	}
	h.Set("ETag", a.etag)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(plain))
}

// decompressed inflates the asset once and keeps the result, for the rare
// client that does not accept gzip.
func (a *asset) decompressed() ([]byte, error) {
	a.plainOnce.Do(func() {
		zr, err := gzip.NewReader(bytes.NewReader(a.gz))
		if err != nil {
			a.plainErr = err
			return
		}
		a.plain, a.plainErr = io.ReadAll(zr)
	})
	return a.plain, a.plainErr
}

// acceptsGzip reports whether an Accept-Encoding header value allows gzip,
// honouring an explicit q=0 refusal for gzip or for "*".
func acceptsGzip(header string) bool {
	star := false
	for _, part := range strings.Split(header, ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		coding = strings.ToLower(strings.TrimSpace(coding))
		q := 1.0
		for _, p := range strings.Split(params, ";") {
			k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
			if ok && strings.EqualFold(strings.TrimSpace(k), "q") {
				if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
					q = f
				}
			}
		}
		switch coding {
		case "gzip", "x-gzip":
			return q > 0
		case "*":
			star = q > 0
		}
	}
	return star
}
