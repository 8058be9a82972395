// This file holds the calls that add and remove a contact's tags and followers.

package upstream

import "context"

// tagsBody is the body of both tag calls.
type tagsBody struct {
	Tags []string `json:"tags"`
}

// tagsEnvelope is the answer of both tag calls: the contact's tags after the change.
type tagsEnvelope struct {
	Tags []string `json:"tags"`
}

func (e *tagsEnvelope) missingField() string {
	if e.Tags == nil {
		return "tags"
	}
	return ""
}

// AddTags adds tags to a contact and returns its tags afterwards.
//
// API: POST /contacts/{contactId}/tags (add-tags).
func (s *ContactsService) AddTags(ctx context.Context, contactID string, tags []string) ([]string, *Response, error) {
	return s.changeTags(ctx, OpAddTags, contactID, tags)
}

// RemoveTags removes tags from a contact and returns its tags afterwards.
//
// API: DELETE /contacts/{contactId}/tags (remove-tags).
func (s *ContactsService) RemoveTags(ctx context.Context, contactID string, tags []string) ([]string, *Response, error) {
	return s.changeTags(ctx, OpRemoveTags, contactID, tags)
}

func (s *ContactsService) changeTags(ctx context.Context, op Operation, contactID string, tags []string) ([]string, *Response, error) {
	if err := requireItems(op, "tags", tags); err != nil {
		return nil, nil, err
	}
	var out tagsEnvelope
	resp, err := s.client.call(ctx, op, []string{contactID}, nil, &tagsBody{Tags: tags}, &out)
	if err != nil {
		return nil, resp, err
	}
	return out.Tags, resp, nil
}

// followersBody is the body of both follower calls.
type followersBody struct {
	Followers []string `json:"followers"`
}

// FollowersResult is the answer of a follower call.
type FollowersResult struct {
	// Followers are the contact's followers after the change.
	Followers StringList `json:"followers"`
	// Added lists the followers that were added (AddFollowers only).
	Added StringList `json:"followersAdded,omitempty"`
	// Removed lists the followers that were removed (RemoveFollowers only).
	Removed StringList `json:"followersRemoved,omitempty"`
}

func (r *FollowersResult) missingField() string {
	if r.Followers == nil && r.Added == nil && r.Removed == nil {
		return "followers"
	}
	return ""
}

// AddFollowers adds users as followers of a contact.
//
// API: POST /contacts/{contactId}/followers (add-followers-contact).
func (s *ContactsService) AddFollowers(ctx context.Context, contactID string, userIDs []string) (*FollowersResult, *Response, error) {
	return s.changeFollowers(ctx, OpAddFollowers, contactID, userIDs)
}

// RemoveFollowers removes users from the followers of a contact.
//
// API: DELETE /contacts/{contactId}/followers (remove-followers-contact).
func (s *ContactsService) RemoveFollowers(ctx context.Context, contactID string, userIDs []string) (*FollowersResult, *Response, error) {
	return s.changeFollowers(ctx, OpRemoveFollowers, contactID, userIDs)
}

func (s *ContactsService) changeFollowers(ctx context.Context, op Operation, contactID string, userIDs []string) (*FollowersResult, *Response, error) {
	if err := requireItems(op, "followers", userIDs); err != nil {
		return nil, nil, err
	}
	var out FollowersResult
	resp, err := s.client.call(ctx, op, []string{contactID}, nil, &followersBody{Followers: userIDs}, &out)
	if err != nil {
		return nil, resp, err
	}
	return &out, resp, nil
}

// requireItems refuses an empty list or one with an empty item.
func requireItems(op Operation, name string, items []string) error {
	if len(items) == 0 {
		return invalidInput(op, "%s must not be empty", name)
	}
	for _, it := range items {
		if it == "" {
			return invalidInput(op, "%s must not hold an empty string", name)
		}
	}
	return nil
}
