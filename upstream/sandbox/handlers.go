// This file holds the table from operation IDs to handlers (the answer
// envelopes and request bodies are in wire.go). The handlers are in
// contacts.go, children.go (tasks, notes, appointments), relations.go
// (tags, followers, campaigns, workflows), bulk.go and search.go.

package sandbox

import "github.com/ghl-graphql/gateway/upstream"

// handlers maps every operation ID to its handler; New refuses to start if
// one of upstream.Operations() is missing.
var handlers = map[string]func(*call) response{
	upstream.OpSearchContacts.ID:         handleSearch,
	upstream.OpGetDuplicateContact.ID:    handleDuplicate,
	upstream.OpListTasks.ID:              handleListTasks,
	upstream.OpCreateTask.ID:             handleCreateTask,
	upstream.OpGetTask.ID:                handleGetTask,
	upstream.OpUpdateTask.ID:             handleUpdateTask,
	upstream.OpDeleteTask.ID:             handleDeleteTask,
	upstream.OpSetTaskCompleted.ID:       handleSetTaskCompleted,
	upstream.OpListAppointments.ID:       handleListAppointments,
	upstream.OpAddTags.ID:                handleAddTags,
	upstream.OpRemoveTags.ID:             handleRemoveTags,
	upstream.OpListNotes.ID:              handleListNotes,
	upstream.OpCreateNote.ID:             handleCreateNote,
	upstream.OpGetNote.ID:                handleGetNote,
	upstream.OpUpdateNote.ID:             handleUpdateNote,
	upstream.OpDeleteNote.ID:             handleDeleteNote,
	upstream.OpBulkUpdateTags.ID:         handleBulkTags,
	upstream.OpBulkUpdateBusiness.ID:     handleBulkBusiness,
	upstream.OpGetContact.ID:             handleGetContact,
	upstream.OpUpdateContact.ID:          handleUpdateContact,
	upstream.OpDeleteContact.ID:          handleDeleteContact,
	upstream.OpUpsertContact.ID:          handleUpsertContact,
	upstream.OpListContactsByBusiness.ID: handleListByBusiness,
	upstream.OpAddFollowers.ID:           handleAddFollowers,
	upstream.OpRemoveFollowers.ID:        handleRemoveFollowers,
	upstream.OpAddToCampaign.ID:          handleAddToCampaign,
	upstream.OpRemoveFromCampaign.ID:     handleRemoveFromCampaign,
	upstream.OpRemoveFromAllCampaigns.ID: handleRemoveFromAllCampaigns,
	upstream.OpAddToWorkflow.ID:          handleAddToWorkflow,
	upstream.OpRemoveFromWorkflow.ID:     handleRemoveFromWorkflow,
	upstream.OpCreateContact.ID:          handleCreateContact,
	upstream.OpListContactsDeprecated.ID: handleListDeprecated,
}
