package inspect

import "net/http"

// Handler returns middleware that runs every request to h as one unit named
// name on the default monitor; see Monitor.Handler.
func Handler(name string, h http.Handler) http.Handler { return Default().Handler(name, h) }

// Handler returns middleware that runs every request to h as one unit named
// name. The name is resolved once here; per request the cost is Begin/End's.
func (m *Monitor) Handler(name string, h http.Handler) http.Handler {
	u := m.NewUnit(name)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reg := u.Begin(r.Context())
		defer reg.End()
		h.ServeHTTP(w, r)
	})
}
