// This file holds the calls that add a contact to campaigns and workflows and
// remove it from them.

package upstream

import "context"

// CampaignsService enrols contacts in campaigns.
type CampaignsService service

// Add adds a contact to a campaign.
//
// API: POST /contacts/{contactId}/campaigns/{campaignId} (add-contact-to-campaign).
func (s *CampaignsService) Add(ctx context.Context, contactID, campaignID string) (*Response, error) {
	// The API's body schema is an empty object; send one rather than nothing.
	return s.client.callSuccess(ctx, OpAddToCampaign, []string{contactID, campaignID}, struct{}{})
}

// Remove removes a contact from a campaign.
//
// API: DELETE /contacts/{contactId}/campaigns/{campaignId} (remove-contact-from-campaign).
func (s *CampaignsService) Remove(ctx context.Context, contactID, campaignID string) (*Response, error) {
	return s.client.callSuccess(ctx, OpRemoveFromCampaign, []string{contactID, campaignID}, nil)
}

// RemoveAll removes a contact from every campaign.
//
// API: DELETE /contacts/{contactId}/campaigns/removeAll (remove-contact-from-every-campaign).
func (s *CampaignsService) RemoveAll(ctx context.Context, contactID string) (*Response, error) {
	return s.client.callSuccess(ctx, OpRemoveFromAllCampaigns, []string{contactID}, nil)
}

// WorkflowsService enrols contacts in workflows.
type WorkflowsService service

// WorkflowRequest is the body of both workflow calls.
type WorkflowRequest struct {
	// EventStartTime is when the workflow's event starts for this contact,
	// RFC 3339 with an offset (e.g. "2021-06-23T03:30:00+01:00"); optional.
	EventStartTime string `json:"eventStartTime,omitempty"`
}

// Add adds a contact to a workflow. Not idempotent: adding twice may enrol twice.
//
// API: POST /contacts/{contactId}/workflow/{workflowId} (add-contact-to-workflow).
func (s *WorkflowsService) Add(ctx context.Context, contactID, workflowID string, body *WorkflowRequest) (*Response, error) {
	if body == nil {
		body = &WorkflowRequest{}
	}
	return s.client.callSuccess(ctx, OpAddToWorkflow, []string{contactID, workflowID}, body)
}

// Remove removes a contact from a workflow.
//
// API: DELETE /contacts/{contactId}/workflow/{workflowId} (delete-contact-from-workflow).
func (s *WorkflowsService) Remove(ctx context.Context, contactID, workflowID string, body *WorkflowRequest) (*Response, error) {
	if body == nil {
		body = &WorkflowRequest{}
	}
	return s.client.callSuccess(ctx, OpRemoveFromWorkflow, []string{contactID, workflowID}, body)
}
