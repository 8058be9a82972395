// This file holds the handlers that change a contact's tags and followers
// and enrol it in campaigns and workflows.

package sandbox

import (
	"slices"
)

// bindList decodes a body holding one required, non-empty list of strings.
func (c *call) bindList(dst any, key string, list func() []string) *response {
	raw, bad := c.bind(dst)
	if bad != nil {
		return bad
	}
	var ck checks
	if !present(raw, key) {
		ck.addf("%s must be an array", key)
	} else if len(list()) == 0 {
		ck.addf("%s should not be empty", key)
	}
	ck.eachNonEmpty(key, list())
	return ck.result()
}

func handleAddTags(c *call) response {
	var body tagsBody
	if bad := c.bindList(&body, "tags", func() []string { return body.Tags }); bad != nil {
		return *bad
	}
	st := c.s.store
	return st.write(c.loc, c.params[0], func(rec *contactRec) response {
		rec.c.Tags, _ = mergeTags(rec.c.Tags, body.Tags)
		st.touch(rec)
		return created(tagsEnvelope{Tags: slices.Clone(rec.c.Tags)})
	})
}

func handleRemoveTags(c *call) response {
	var body tagsBody
	if bad := c.bindList(&body, "tags", func() []string { return body.Tags }); bad != nil {
		return *bad
	}
	st := c.s.store
	return st.write(c.loc, c.params[0], func(rec *contactRec) response {
		rec.c.Tags, _ = dropTags(rec.c.Tags, body.Tags)
		st.touch(rec)
		return ok(tagsEnvelope{Tags: slices.Clone(rec.c.Tags)})
	})
}

// followersAnswer is the answer of both follower calls.
type followersAnswer struct {
	Followers []string `json:"followers"`
	Added     []string `json:"followersAdded,omitempty"`
	Removed   []string `json:"followersRemoved,omitempty"`
}

func handleAddFollowers(c *call) response {
	var body followersBody
	if bad := c.bindList(&body, "followers", func() []string { return body.Followers }); bad != nil {
		return *bad
	}
	st := c.s.store
	return st.write(c.loc, c.params[0], func(rec *contactRec) response {
		all, added := []string(rec.c.Followers), []string{}
		for _, f := range body.Followers {
			if !slices.Contains(all, f) {
				all = append(all, f)
				added = append(added, f)
			}
		}
		rec.c.Followers = all
		st.touch(rec)
		return created(followersAnswer{Followers: append([]string{}, all...), Added: added})
	})
}

func handleRemoveFollowers(c *call) response {
	var body followersBody
	if bad := c.bindList(&body, "followers", func() []string { return body.Followers }); bad != nil {
		return *bad
	}
	st := c.s.store
	return st.write(c.loc, c.params[0], func(rec *contactRec) response {
		kept, removed := []string{}, []string{}
		for _, f := range rec.c.Followers {
			if slices.Contains(body.Followers, f) {
				removed = append(removed, f)
			} else {
				kept = append(kept, f)
			}
		}
		rec.c.Followers = nil
		if len(kept) > 0 {
			rec.c.Followers = slices.Clone(kept)
		}
		st.touch(rec)
		return ok(followersAnswer{Followers: kept, Removed: removed})
	})
}

func handleAddToCampaign(c *call) response {
	var body campaignBody
	if _, bad := c.bind(&body); bad != nil {
		return *bad
	}
	st := c.s.store
	return st.write(c.loc, c.params[0], func(rec *contactRec) response {
		if !slices.Contains(rec.campaigns, c.params[1]) {
			rec.campaigns = append(rec.campaigns, c.params[1])
		}
		st.touch(rec)
		return created(succeededTrue)
	})
}

func handleRemoveFromCampaign(c *call) response {
	st := c.s.store
	return st.write(c.loc, c.params[0], func(rec *contactRec) response {
		rec.campaigns = slices.DeleteFunc(rec.campaigns, func(id string) bool { return id == c.params[1] })
		st.touch(rec)
		return ok(succeededTrue)
	})
}

func handleRemoveFromAllCampaigns(c *call) response {
	st := c.s.store
	return st.write(c.loc, c.params[0], func(rec *contactRec) response {
		rec.campaigns = nil
		st.touch(rec)
		return ok(succeededTrue)
	})
}

// bindWorkflow decodes the body of both workflow calls.
func (c *call) bindWorkflow() *response {
	var body workflowBody
	if _, bad := c.bind(&body); bad != nil {
		return bad
	}
	var ck checks
	if body.EventStartTime != "" {
		ck.rfc3339("eventStartTime", body.EventStartTime)
	}
	return ck.result()
}

func handleAddToWorkflow(c *call) response {
	if bad := c.bindWorkflow(); bad != nil {
		return *bad
	}
	st := c.s.store
	return st.write(c.loc, c.params[0], func(rec *contactRec) response {
		if !slices.Contains(rec.workflows, c.params[1]) {
			rec.workflows = append(rec.workflows, c.params[1])
		}
		st.touch(rec)
		return ok(succeededTrue)
	})
}

func handleRemoveFromWorkflow(c *call) response {
	if bad := c.bindWorkflow(); bad != nil {
		return *bad
	}
	st := c.s.store
	return st.write(c.loc, c.params[0], func(rec *contactRec) response {
		rec.workflows = slices.DeleteFunc(rec.workflows, func(id string) bool { return id == c.params[1] })
		st.touch(rec)
		return ok(succeededTrue)
	})
}
