// This file holds the handlers of what hangs off a contact: its tasks, notes
// and appointments.

package sandbox

import (
	"slices"
	"strings"
)

func handleListTasks(c *call) response {
	return c.s.store.read(c.loc, c.params[0], func(rec *contactRec) response {
		return ok(tasksEnvelope{Tasks: cloneTasks(rec.tasks)})
	})
}

func taskIndex(rec *contactRec, id string) int {
	return slices.IndexFunc(rec.tasks, func(t wireTask) bool { return t.ID == id })
}

func handleGetTask(c *call) response {
	return c.s.store.read(c.loc, c.params[0], func(rec *contactRec) response {
		i := taskIndex(rec, c.params[1])
		if i < 0 {
			return taskNotFound
		}
		return ok(taskEnvelope{Task: rec.tasks[i]})
	})
}

func handleCreateTask(c *call) response {
	var body createTaskBody
	raw, bad := c.bind(&body)
	if bad != nil {
		return *bad
	}
	var ck checks
	ck.requireString(raw, "title")
	ck.requireString(raw, "dueDate")
	if body.DueDate != "" {
		ck.rfc3339("dueDate", body.DueDate)
	}
	if _, isBool := raw["completed"].(bool); !isBool {
		ck.addf("completed must be a boolean value")
	}
	if r := ck.result(); r != nil {
		return *r
	}
	due, _ := parseRFC3339(body.DueDate)
	st := c.s.store
	return st.write(c.loc, c.params[0], func(rec *contactRec) response {
		t := wireTask{ID: st.newID(), Title: body.Title, Body: body.Body, AssignedTo: body.AssignedTo,
			DueDate: formatTime(due), Completed: body.Completed, ContactID: rec.c.ID}
		rec.tasks = append(rec.tasks, t)
		st.touch(rec)
		return created(taskEnvelope{Task: t})
	})
}

func handleUpdateTask(c *call) response {
	var body updateTaskBody
	raw, bad := c.bind(&body)
	if bad != nil {
		return *bad
	}
	var ck checks
	ck.notNull(raw, "title", "should not be empty")
	ck.notNull(raw, "dueDate", "must be a valid ISO 8601 date string")
	ck.notNull(raw, "completed", "must be a boolean value")
	if v, has := body.Title.get(); has && strings.TrimSpace(v) == "" {
		ck.addf("title should not be empty")
	}
	if v, has := body.DueDate.get(); has {
		ck.rfc3339("dueDate", v)
	}
	if r := ck.result(); r != nil {
		return *r
	}
	// UpdateTaskBody declares no property nullable: a null body or
	// assignedTo passes validation and changes nothing. An empty string
	// clears.
	st := c.s.store
	return st.write(c.loc, c.params[0], func(rec *contactRec) response {
		i := taskIndex(rec, c.params[1])
		if i < 0 {
			return taskNotFound
		}
		t := &rec.tasks[i]
		if v, has := body.Title.get(); has {
			t.Title = v
		}
		if v, has := body.Body.get(); has {
			t.Body = v
		}
		if v, has := body.AssignedTo.get(); has {
			t.AssignedTo = v
		}
		if v, has := body.DueDate.get(); has {
			due, _ := parseRFC3339(v)
			t.DueDate = formatTime(due)
		}
		if v, has := body.Completed.get(); has {
			t.Completed = v
		}
		st.touch(rec)
		return ok(taskEnvelope{Task: *t})
	})
}

func handleSetTaskCompleted(c *call) response {
	var body completedBody
	_, bad := c.bind(&body)
	if bad != nil {
		return *bad
	}
	if body.Completed == nil {
		return invalid("completed must be a boolean value")
	}
	st := c.s.store
	return st.write(c.loc, c.params[0], func(rec *contactRec) response {
		i := taskIndex(rec, c.params[1])
		if i < 0 {
			return taskNotFound
		}
		rec.tasks[i].Completed = *body.Completed
		st.touch(rec)
		return ok(taskEnvelope{Task: rec.tasks[i]})
	})
}

func handleDeleteTask(c *call) response {
	st := c.s.store
	return st.write(c.loc, c.params[0], func(rec *contactRec) response {
		i := taskIndex(rec, c.params[1])
		if i < 0 {
			return taskNotFound
		}
		rec.tasks = slices.Delete(rec.tasks, i, i+1)
		st.touch(rec)
		return ok(succeededTrue)
	})
}

func handleListNotes(c *call) response {
	return c.s.store.read(c.loc, c.params[0], func(rec *contactRec) response {
		return ok(notesEnvelope{Notes: cloneNotes(rec.notes)})
	})
}

func noteIndex(rec *contactRec, id string) int {
	return slices.IndexFunc(rec.notes, func(n wireNote) bool { return n.ID == id })
}

func handleGetNote(c *call) response {
	return c.s.store.read(c.loc, c.params[0], func(rec *contactRec) response {
		i := noteIndex(rec, c.params[1])
		if i < 0 {
			return noteNotFound
		}
		return ok(noteEnvelope{Note: rec.notes[i]})
	})
}

func handleCreateNote(c *call) response {
	var body createNoteBody
	raw, bad := c.bind(&body)
	if bad != nil {
		return *bad
	}
	var ck checks
	ck.requireString(raw, "body")
	if r := ck.result(); r != nil {
		return *r
	}
	st := c.s.store
	return st.write(c.loc, c.params[0], func(rec *contactRec) response {
		now, _ := st.stamp()
		n := wireNote{ID: st.newID(), Body: body.Body, UserID: body.UserID, Title: body.Title,
			Color: body.Color, DateAdded: now, ContactID: rec.c.ID}
		if body.Pinned != nil {
			n.Pinned = *body.Pinned
		}
		rec.notes = append(rec.notes, n)
		st.touch(rec)
		return created(noteEnvelope{Note: n})
	})
}

func handleUpdateNote(c *call) response {
	var body updateNoteBody
	raw, bad := c.bind(&body)
	if bad != nil {
		return *bad
	}
	var ck checks
	ck.notNull(raw, "body", "should not be empty")
	if v, has := body.Body.get(); has && strings.TrimSpace(v) == "" {
		ck.addf("body should not be empty")
	}
	if r := ck.result(); r != nil {
		return *r
	}
	// UpdateNoteDTO declares no property nullable: a null userId, title,
	// color or pinned changes nothing. An empty string clears.
	st := c.s.store
	return st.write(c.loc, c.params[0], func(rec *contactRec) response {
		i := noteIndex(rec, c.params[1])
		if i < 0 {
			return noteNotFound
		}
		n := &rec.notes[i]
		for _, f := range []struct {
			dst *string
			src field[string]
		}{{&n.Body, body.Body}, {&n.UserID, body.UserID}, {&n.Title, body.Title}, {&n.Color, body.Color}} {
			if v, has := f.src.get(); has {
				*f.dst = v
			}
		}
		if v, has := body.Pinned.get(); has {
			n.Pinned = v
		}
		st.touch(rec)
		return ok(noteEnvelope{Note: *n})
	})
}

func handleDeleteNote(c *call) response {
	st := c.s.store
	return st.write(c.loc, c.params[0], func(rec *contactRec) response {
		i := noteIndex(rec, c.params[1])
		if i < 0 {
			return noteNotFound
		}
		rec.notes = slices.Delete(rec.notes, i, i+1)
		st.touch(rec)
		return ok(succeededTrue)
	})
}

func handleListAppointments(c *call) response {
	return c.s.store.read(c.loc, c.params[0], func(rec *contactRec) response {
		return ok(eventsEnvelope{Events: cloneAppointments(rec.appts)})
	})
}
