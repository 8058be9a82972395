// This file holds a contact's tasks.

package upstream

import (
	"context"
	"encoding/json"
)

// TasksService calls the task endpoints of a contact.
type TasksService service

// Task is a task on a contact.
type Task struct {
	ID         string `json:"id"`
	Title      string `json:"title"`
	Body       string `json:"body,omitempty"`
	AssignedTo string `json:"assignedTo,omitempty"`
	// DueDate is an RFC 3339 time, e.g. "2021-07-08T02:30:00.000Z".
	DueDate   string `json:"dueDate,omitempty"`
	Completed bool   `json:"completed"`
	ContactID string `json:"contactId,omitempty"`
}

// CreateTaskRequest is the body of POST /contacts/{contactId}/tasks.
type CreateTaskRequest struct {
	Title string `json:"title"`
	Body  string `json:"body,omitempty"`
	// DueDate is an RFC 3339 time.
	DueDate    string `json:"dueDate"`
	Completed  bool   `json:"completed"`
	AssignedTo string `json:"assignedTo,omitempty"`
}

// UpdateTaskRequest is the body of PUT /contacts/{contactId}/tasks/{taskId};
// absent fields keep their value. The spec (UpdateTaskBody) lets no field be
// null: a Null Body or AssignedTo is sent as "", which clears it; Title,
// DueDate and Completed cannot be cleared, and a Null for them is refused
// with ErrInvalidInput before any call.
type UpdateTaskRequest struct {
	Title      Nullable[string] `json:"title,omitzero"`
	Body       Nullable[string] `json:"body,omitzero"`
	DueDate    Nullable[string] `json:"dueDate,omitzero"`
	Completed  Nullable[bool]   `json:"completed,omitzero"`
	AssignedTo Nullable[string] `json:"assignedTo,omitzero"`
}

func (r *UpdateTaskRequest) checkNulls() error {
	return refuseNull(OpUpdateTask,
		notClearable{"title", r.Title.IsNull(), "a task always has a title"},
		notClearable{"dueDate", r.DueDate.IsNull(), "a task always has a due date"},
		notClearable{"completed", r.Completed.IsNull(), "set it to false"})
}

// MarshalJSON encodes a Null Body or AssignedTo as "", and fails for a Null
// the API cannot take.
func (r UpdateTaskRequest) MarshalJSON() ([]byte, error) {
	if err := r.checkNulls(); err != nil {
		return nil, err
	}
	type wire UpdateTaskRequest
	w := wire(r)
	w.Body = clearAs(w.Body, "")
	w.AssignedTo = clearAs(w.AssignedTo, "")
	return json.Marshal(w)
}

type taskEnvelope struct {
	Task *Task `json:"task"`
}

func (e *taskEnvelope) missingField() string {
	if e.Task == nil {
		return "task"
	}
	return ""
}

type tasksEnvelope struct {
	Tasks []Task `json:"tasks"`
}

func (e *tasksEnvelope) missingField() string {
	if e.Tasks == nil {
		return "tasks"
	}
	return ""
}

// List returns the tasks of a contact.
//
// API: GET /contacts/{contactId}/tasks (get-all-tasks).
func (s *TasksService) List(ctx context.Context, contactID string) ([]Task, *Response, error) {
	var out tasksEnvelope
	resp, err := s.client.call(ctx, OpListTasks, []string{contactID}, nil, nil, &out)
	if err != nil {
		return nil, resp, err
	}
	return out.Tasks, resp, nil
}

// Get returns one task of a contact.
//
// API: GET /contacts/{contactId}/tasks/{taskId} (get-task).
func (s *TasksService) Get(ctx context.Context, contactID, taskID string) (*Task, *Response, error) {
	return s.one(ctx, OpGetTask, []string{contactID, taskID}, nil)
}

// Create adds a task to a contact. Not idempotent.
//
// API: POST /contacts/{contactId}/tasks (create-task).
func (s *TasksService) Create(ctx context.Context, contactID string, body *CreateTaskRequest) (*Task, *Response, error) {
	if body == nil || body.Title == "" || body.DueDate == "" {
		return nil, nil, invalidInput(OpCreateTask, "title and dueDate are required")
	}
	return s.one(ctx, OpCreateTask, []string{contactID}, body)
}

// Update changes the fields set in body.
//
// API: PUT /contacts/{contactId}/tasks/{taskId} (update-task).
func (s *TasksService) Update(ctx context.Context, contactID, taskID string, body *UpdateTaskRequest) (*Task, *Response, error) {
	if body == nil {
		body = &UpdateTaskRequest{}
	}
	if err := body.checkNulls(); err != nil {
		return nil, nil, err
	}
	return s.one(ctx, OpUpdateTask, []string{contactID, taskID}, body)
}

// SetCompleted marks a task completed or not.
//
// API: PUT /contacts/{contactId}/tasks/{taskId}/completed (update-task-completed).
func (s *TasksService) SetCompleted(ctx context.Context, contactID, taskID string, completed bool) (*Task, *Response, error) {
	return s.one(ctx, OpSetTaskCompleted, []string{contactID, taskID}, &struct {
		Completed bool `json:"completed"`
	}{completed})
}

// Delete deletes a task.
//
// API: DELETE /contacts/{contactId}/tasks/{taskId} (delete-task).
func (s *TasksService) Delete(ctx context.Context, contactID, taskID string) (*Response, error) {
	return s.client.callSuccess(ctx, OpDeleteTask, []string{contactID, taskID}, nil)
}

func (s *TasksService) one(ctx context.Context, op Operation, params []string, body any) (*Task, *Response, error) {
	var out taskEnvelope
	resp, err := s.client.call(ctx, op, params, nil, body, &out)
	if err != nil {
		return nil, resp, err
	}
	return out.Task, resp, nil
}
