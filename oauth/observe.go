// This file reports how each token refresh ends, for metrics: any Store,
// in memory, on disk or shared in Redis, goes through settle, which calls
// Config.OnRefresh once per refresh sent to HighLevel.

package oauth

// Outcomes of a refresh, as passed to Config.OnRefresh.
const (
	// RefreshOK: HighLevel issued a new pair and the store kept it.
	RefreshOK = "ok"
	// RefreshReconsent: HighLevel refused the refresh token (invalid_grant).
	RefreshReconsent = "reconsent"
	// RefreshFailed: the token endpoint could not be reached or answered an error.
	RefreshFailed = "error"
	// RefreshNotPersisted: a new pair was issued but the store refused it.
	RefreshNotPersisted = "not_persisted"
)

// noteRefresh tells Config.OnRefresh how a refresh ended.
func (m *Manager) noteRefresh(outcome string) {
	if m.cfg.OnRefresh != nil {
		m.cfg.OnRefresh(outcome)
	}
}
