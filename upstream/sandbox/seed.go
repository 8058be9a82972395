// This file holds the seed data: realistic, deterministic contacts (and their
// tasks, notes and appointments) drawn from a PCG generator seeded with
// Config.Seed, dated relative to a fixed base date rather than the clock.

package sandbox

import (
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// baseDate anchors the seed data's dates: contacts were added during the
// year before it. Fixed, so that the same seed gives the same data on any day.
var baseDate = time.Date(2025, time.June, 1, 0, 0, 0, 0, time.UTC)

// BaseDate returns the date the seed data is anchored to: every seeded
// contact was added during the year before it.
func BaseDate() time.Time { return baseDate }

var (
	firstNames = []string{"James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda",
		"David", "Elizabeth", "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas",
		"Sarah", "Carlos", "Karen", "Daniel", "Lisa", "Matthew", "Nancy", "Anthony", "Sandra", "Mark",
		"Ashley", "Priya", "Emily", "Steven", "Olivia", "Kevin", "Sofia", "Brian", "Aisha", "Wei",
		"Chloe", "Diego", "Hannah", "Omar", "Grace", "Lucas", "Mia", "Noah", "Zoe", "Ethan", "Amara",
		"Liam", "Yuki"}
	lastNames = []string{"Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis",
		"Rodriguez", "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas",
		"Taylor", "Moore", "Jackson", "Martin", "Lee", "Perez", "Thompson", "White", "Harris",
		"Sanchez", "Clark", "Ramirez", "Lewis", "Robinson", "Walker", "Young", "Allen", "King",
		"Wright", "Scott", "Nguyen", "Hill", "Flores", "Green", "Patel", "Kim", "O'Brien", "Müller",
		"Rossi", "Dubois", "Novak", "Silva", "Chen", "Okafor"}
	companies = []string{"Acme Dental", "Bright Smile Orthodontics", "Summit Roofing", "Blue Ridge HVAC",
		"Evergreen Landscaping", "Harbor Realty", "Peak Fitness", "Golden Spoon Catering",
		"Northwind Legal", "Pixel Forge Studio", "Cedar Creek Vet Clinic", "Urban Nest Interiors",
		"Silver Line Auto", "Lakeside Chiropractic", "Maple Leaf Bakery", "Ironclad Security",
		"Sunrise Solar", "Crystal Clear Pools", "Redwood Insurance", "Velvet Hair Salon",
		"Trailhead Outfitters", "BrightPath Tutoring", "Keystone Plumbing", "Coastal Yoga",
		"Nimbus Cloud Consulting", "Orchard Family Medicine", "Granite Countertops Co", "Swift Movers",
		"Horizon Travel", "Copper Kettle Cafe"}
	streets     = []string{"Main St", "Oak Ave", "Maple Dr", "Cedar Ln", "Park Blvd", "Lakeview Rd", "Elm St", "Sunset Blvd", "Hillcrest Dr", "River Rd", "1st St N", "Washington Ave"}
	mailDomains = []string{"gmail.com", "yahoo.com", "outlook.com", "icloud.com", "hotmail.com", "proton.me"}
	sources     = []string{"website form", "facebook lead ad", "google ads", "referral", "public api",
		"manual", "chat widget", "calendar booking", "csv import", "instagram"}
	tagVocab = []string{"vip", "newsletter", "hot lead", "cold lead", "webinar", "trial", "customer",
		"follow-up", "partner", "do-not-call", "event-2024", "referral"}
	taskTitles = []string{"Call back", "Send proposal", "Follow up on quote", "Schedule demo",
		"Confirm appointment", "Collect review", "Send invoice", "Check in after onboarding",
		"Prepare contract", "Verify insurance details"}
	noteBodies = []string{"Interested in the premium plan; asked for pricing by email.",
		"Prefers to be contacted after 5pm.", "Left a voicemail, no answer.",
		"Referred by an existing customer.", "Asked about financing options.",
		"Wants a follow-up next quarter.", "Had a great first visit, likely to book again.",
		"Requested a callback regarding the estimate.", "Unsubscribed from SMS, email is fine.",
		"Booked through the website chat."}
	noteTitles  = []string{"Follow-up summary", "Call notes", "Visit recap", "Pricing question"}
	noteColors  = []string{"#FFAA00", "#4CAF50", "#2196F3", "#E91E63"}
	apptTitles  = []string{"Initial consultation", "Follow-up visit", "Product demo", "Site survey", "Strategy call"}
	apptStatus  = []string{"booked", "confirmed", "cancelled", "showed"}
	customField = []struct{ key, kind string }{
		{"contact.lead_score", "number"},
		{"contact.preferred_contact_method", "text"},
		{"contact.interests", "multi"},
		{"contact.budget", "number"},
	}
	contactMethods = []string{"phone", "email", "sms", "whatsapp"}
	interests      = []string{"pricing", "support", "demo", "partnership", "upgrade", "training"}
)

// place is where a contact lives.
type place struct {
	city, state, country, timezone, postalPrefix, dial string
}

var places = []place{
	{"Austin", "TX", "US", "America/Chicago", "787", "+1"},
	{"Denver", "CO", "US", "America/Denver", "802", "+1"},
	{"Seattle", "WA", "US", "America/Los_Angeles", "981", "+1"},
	{"Miami", "FL", "US", "America/New_York", "331", "+1"},
	{"Chicago", "IL", "US", "America/Chicago", "606", "+1"},
	{"Phoenix", "AZ", "US", "America/Phoenix", "850", "+1"},
	{"Boston", "MA", "US", "America/New_York", "021", "+1"},
	{"Atlanta", "GA", "US", "America/New_York", "303", "+1"},
	{"San Diego", "CA", "US", "America/Los_Angeles", "921", "+1"},
	{"Dolomite", "AL", "US", "America/Chicago", "350", "+1"},
	{"Toronto", "ON", "CA", "America/Toronto", "M5V", "+1"},
	{"Vancouver", "BC", "CA", "America/Vancouver", "V6B", "+1"},
	{"London", "England", "GB", "Europe/London", "SW1A", "+44"},
	{"Manchester", "England", "GB", "Europe/London", "M1", "+44"},
	{"Sydney", "NSW", "AU", "Australia/Sydney", "20", "+61"},
	{"Berlin", "Berlin", "DE", "Europe/Berlin", "101", "+49"},
	{"Dublin", "Leinster", "IE", "Europe/Dublin", "D02", "+353"},
	{"Mumbai", "MH", "IN", "Asia/Kolkata", "400", "+91"},
}

// seedStore builds the store for a seed.
func seedStore(seed int64, locations, perLocation int, now func() time.Time) *store {
	r := rand.New(rand.NewPCG(uint64(seed), streamData))
	st := &store{
		locs:    map[string]*locData{},
		byID:    map[string]*contactRec{},
		deleted: map[string]string{},
		rng:     rand.New(rand.NewPCG(uint64(seed), streamRuntime)),
		now:     now,
	}
	for range locations {
		l := seedLocation(r, st)
		st.order = append(st.order, l.id)
		st.locs[l.id] = l
		g := &contactGen{r: r, l: l, emails: map[string]bool{}, phones: map[string]bool{}, st: st}
		for range perLocation {
			rec := g.contact()
			st.insert(rec)
		}
	}
	completeExamples(seed, st)
	return st
}

// streamExample is the PCG stream of what completeExamples adds, so that
// the rest of the seed data (IDs, counts) is the same as without it.
const streamExample = 0x5eed_e8a1

// completeExamples gives the example contact of each location (its oldest,
// see Server.ExampleContact) at least one task, note and appointment, so
// that the snapshot a new user is pointed at shows every list filled in.
// Only the kinds it lacks are added.
func completeExamples(seed int64, st *store) {
	r := rand.New(rand.NewPCG(uint64(seed), streamExample))
	for _, loc := range st.order {
		ids := st.contactIDs(loc)
		if len(ids) == 0 {
			continue
		}
		rec := st.byID[ids[0]]
		g := &contactGen{r: r, l: st.locs[loc], st: st}
		// children draws each kind's count from 0 up; a few draws give one
		// of each (each draw has a 2/3 chance at least of a kind).
		for range 64 {
			if len(rec.tasks) > 0 && len(rec.notes) > 0 && len(rec.appts) > 0 {
				break
			}
			extra := &contactRec{c: rec.c, added: rec.added, updated: rec.updated}
			g.children(extra)
			if len(rec.tasks) == 0 && len(extra.tasks) > 0 {
				rec.tasks = extra.tasks[:1]
			}
			if len(rec.notes) == 0 && len(extra.notes) > 0 {
				rec.notes = extra.notes[:1]
			}
			if len(rec.appts) == 0 && len(extra.appts) > 0 {
				rec.appts = extra.appts[:1]
			}
		}
	}
}

// seedLocation draws a location's fixed parts.
func seedLocation(r *rand.Rand, st *store) *locData {
	l := &locData{id: uniqueID(r, st), contacts: map[string]*contactRec{}}
	for range 6 {
		l.users = append(l.users, randomID(r, 20))
	}
	for range 3 {
		l.calendars = append(l.calendars, randomID(r, 20))
	}
	for _, f := range customField {
		l.fields = append(l.fields, customFieldDef{id: randomID(r, 20), key: f.key})
	}
	names := r.Perm(len(companies))
	for i := range 10 {
		b := make([]byte, 12) // a Mongo ObjectId, as business IDs are
		for j := range b {
			b[j] = byte(r.IntN(256))
		}
		l.businesses = append(l.businesses, business{id: hex.EncodeToString(b), name: companies[names[i]]})
	}
	return l
}

// uniqueID draws an ID no contact or location has.
func uniqueID(r *rand.Rand, st *store) string {
	for {
		id := randomID(r, 20)
		if _, taken := st.byID[id]; !taken && st.locs[id] == nil {
			return id
		}
	}
}

// contactGen draws the contacts of one location, keeping emails and
// phones unique within it.
type contactGen struct {
	r      *rand.Rand
	l      *locData
	st     *store
	emails map[string]bool
	phones map[string]bool
}

func pick[T any](r *rand.Rand, xs []T) T { return xs[r.IntN(len(xs))] }

func (g *contactGen) chance(p float64) bool { return g.r.Float64() < p }

// contact draws one contact with its tasks, notes and appointments.
func (g *contactGen) contact() *contactRec {
	r := g.r
	base := baseDate.UnixMilli()
	const year = int64(365 * 24 * time.Hour / time.Millisecond)
	added := base - r.Int64N(year)
	updated := added + r.Int64N(base-added+1)
	first, last := pick(r, firstNames), pick(r, lastNames)
	pl := pick(r, places)
	c := Contact{
		ID:          uniqueID(r, g.st),
		LocationID:  g.l.id,
		FirstName:   first,
		LastName:    last,
		Name:        first + " " + last,
		Email:       g.email(first, last),
		Phone:       g.phone(pl),
		Address1:    fmt.Sprintf("%d %s", 100+r.IntN(9900), pick(r, streets)),
		City:        pl.city,
		State:       pl.state,
		Country:     pl.country,
		PostalCode:  g.postal(pl),
		Timezone:    pl.timezone,
		Source:      pick(r, sources),
		Type:        "lead",
		DateAdded:   formatMillis(added),
		DateUpdated: formatMillis(updated),
		Tags:        []string{},
	}
	if g.chance(0.3) {
		c.Type = "customer"
	}
	if g.chance(0.25) {
		b := pick(r, g.l.businesses)
		c.BusinessID, c.CompanyName = b.id, b.name
	} else if g.chance(0.5) {
		c.CompanyName = pick(r, companies)
	}
	if c.CompanyName != "" && g.chance(0.5) {
		c.Website = "https://www." + slug(c.CompanyName) + ".com"
	}
	if g.chance(0.6) {
		c.AssignedTo = pick(r, g.l.users)
	}
	if g.chance(0.4) {
		c.Gender = pick(r, []string{"male", "female"})
	}
	if g.chance(0.3) {
		dob := time.Date(1950+r.IntN(55), time.Month(1+r.IntN(12)), 1+r.IntN(28), 0, 0, 0, 0, time.UTC)
		c.DateOfBirth = (formatTime(dob))
	}
	for _, i := range r.Perm(len(tagVocab))[:r.IntN(5)] {
		c.Tags = append(c.Tags, tagVocab[i])
	}
	for i, f := range customField {
		if !g.chance(0.6) {
			continue
		}
		var v any
		switch f.kind {
		case "number":
			v = float64(r.IntN(100))
			if f.key == "contact.budget" {
				v = float64(500 * (1 + r.IntN(40)))
			}
		case "text":
			v = pick(r, contactMethods)
		case "multi":
			var list []any
			for _, j := range r.Perm(len(interests))[:1+r.IntN(3)] {
				list = append(list, interests[j])
			}
			v = list
		}
		c.CustomFields = append(c.CustomFields, CustomFieldValue{ID: g.l.fields[i].id, Value: v})
	}
	switch {
	case g.chance(0.1):
		c.DND = true
		all := func() *DNDSetting {
			return &DNDSetting{Status: dndActive, Message: "Opted out", Code: "103"}
		}
		c.DNDSettings = &DNDSettings{Call: all(), Email: all(), SMS: all(), WhatsApp: all(), GMB: all(), FB: all()}
	case g.chance(0.15):
		c.DNDSettings = &DNDSettings{
			SMS:   &DNDSetting{Status: pick(r, []string{dndActive, dndInactive, dndPermanent})},
			Email: &DNDSetting{Status: dndInactive},
		}
	}
	if g.chance(0.2) {
		for _, i := range r.Perm(len(g.l.users))[:1+r.IntN(2)] {
			c.Followers = append(c.Followers, g.l.users[i])
		}
	}
	if g.chance(0.5) {
		c.AttributionSource = g.attribution(c.Source)
	}
	if g.chance(0.7) {
		c.LastActivity = formatMillis(updated + r.Int64N(base-updated+1))
	}
	normalizeContact(&c)
	rec := &contactRec{c: c, added: added, updated: updated}
	g.children(rec)
	return rec
}

// children draws a contact's tasks, notes and appointments.
func (g *contactGen) children(rec *contactRec) {
	r := g.r
	base := baseDate.UnixMilli()
	const day = int64(24 * time.Hour / time.Millisecond)
	for range r.IntN(5) {
		due := rec.added + r.Int64N(base-rec.added+30*day)
		due -= due % (15 * 60 * 1000) // on the quarter hour, as people schedule
		rec.tasks = append(rec.tasks, wireTask{
			ID:         uniqueID(r, g.st),
			Title:      pick(r, taskTitles),
			Body:       pick(r, noteBodies),
			AssignedTo: pick(r, g.l.users),
			DueDate:    formatMillis(due),
			Completed:  due < base && g.chance(0.6),
			ContactID:  rec.c.ID,
		})
	}
	for range r.IntN(4) {
		n := wireNote{
			ID:        uniqueID(r, g.st),
			Body:      pick(r, noteBodies),
			UserID:    pick(r, g.l.users),
			DateAdded: formatMillis(rec.added + r.Int64N(base-rec.added+1)),
			ContactID: rec.c.ID,
		}
		if g.chance(0.4) {
			n.Title = pick(r, noteTitles)
		}
		if g.chance(0.3) {
			n.Color = pick(r, noteColors)
		}
		n.Pinned = g.chance(0.15)
		rec.notes = append(rec.notes, n)
	}
	for range r.IntN(3) {
		start := time.UnixMilli(rec.added + r.Int64N(base-rec.added+60*day)).UTC().Truncate(30 * time.Minute)
		end := start.Add(time.Duration(30*(1+r.IntN(2))) * time.Minute)
		booked := time.UnixMilli(rec.added + r.Int64N(max(start.UnixMilli()-rec.added, 1))).UTC()
		user := pick(r, g.l.users)
		status := pick(r, apptStatus)
		rec.appts = append(rec.appts, wireAppointment{
			ID:                uniqueID(r, g.st),
			CalendarID:        pick(r, g.l.calendars),
			Status:            status,
			AppointmentStatus: status,
			Title:             pick(r, apptTitles),
			AssignedUserID:    user,
			Notes:             pick(r, noteBodies),
			StartTime:         formatEventTime(start),
			EndTime:           formatEventTime(end),
			Address:           "https://meet.example.com/" + strings.ToLower(randomID(r, 10)),
			LocationID:        g.l.id,
			ContactID:         rec.c.ID,
			Users:             []string{user},
			DateAdded:         formatEventTime(booked),
			DateUpdated:       formatEventTime(booked),
		})
	}
}

// email draws an address unique within the location.
func (g *contactGen) email(first, last string) string {
	local := slug(first) + pick(g.r, []string{".", "_", ""}) + slug(last)
	domain := pick(g.r, mailDomains)
	for n := 0; ; n++ {
		e := local
		if n > 0 {
			e = fmt.Sprintf("%s%d", local, n+g.r.IntN(90))
		}
		e += "@" + domain
		if !g.emails[e] {
			g.emails[e] = true
			return e
		}
	}
}

// phone draws an E.164 number unique within the location.
func (g *contactGen) phone(pl place) string {
	for {
		var p string
		switch pl.dial {
		case "+1":
			p = fmt.Sprintf("+1%d%d%07d", 2+g.r.IntN(8), 10+g.r.IntN(90), g.r.IntN(10_000_000))
		case "+44":
			p = fmt.Sprintf("+447%09d", g.r.IntN(1_000_000_000))
		case "+61":
			p = fmt.Sprintf("+614%08d", g.r.IntN(100_000_000))
		case "+49":
			p = fmt.Sprintf("+4915%09d", g.r.IntN(1_000_000_000))
		case "+91":
			p = fmt.Sprintf("+91%d%09d", 7+g.r.IntN(3), g.r.IntN(1_000_000_000))
		default:
			p = fmt.Sprintf("%s8%07d", pl.dial, g.r.IntN(10_000_000))
		}
		if !g.phones[p] {
			g.phones[p] = true
			return p
		}
	}
}

func (g *contactGen) postal(pl place) string {
	switch pl.country {
	case "US":
		return fmt.Sprintf("%s%02d", pl.postalPrefix, g.r.IntN(100))
	case "CA":
		return fmt.Sprintf("%s %d%c%d", pl.postalPrefix, g.r.IntN(10), 'A'+rune(g.r.IntN(26)), g.r.IntN(10))
	case "GB":
		return fmt.Sprintf("%s %d%c%c", pl.postalPrefix, g.r.IntN(10), 'A'+rune(g.r.IntN(26)), 'A'+rune(g.r.IntN(26)))
	case "IN":
		return fmt.Sprintf("%s%03d", pl.postalPrefix, g.r.IntN(1000))
	case "IE":
		return fmt.Sprintf("%s %c%d%c%d", pl.postalPrefix, 'A'+rune(g.r.IntN(26)), g.r.IntN(10), 'A'+rune(g.r.IntN(26)), g.r.IntN(10))
	}
	return fmt.Sprintf("%s%02d", pl.postalPrefix, g.r.IntN(100))
}

func (g *contactGen) attribution(source string) *Attribution {
	a := &Attribution{URL: "https://www.example.com/" + pick(g.r, []string{"pricing", "contact", "book", "landing/spring-offer"})}
	switch source {
	case "facebook lead ad", "instagram":
		a.Medium, a.UTMSource, a.UTMMedium = "facebook", "facebook", "paid_social"
		a.FBCLID = randomID(g.r, 24)
	case "google ads":
		a.Medium, a.UTMSource, a.UTMMedium = "google", "google", "cpc"
		a.GCLID = randomID(g.r, 24)
	case "referral":
		a.Medium, a.Referrer = "referral", "https://www.google.com"
	default:
		a.Medium = "form"
		a.SessionSource = "Direct traffic"
	}
	return a
}

// slug lower-cases s and keeps only ASCII letters and digits.
func slug(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// ExampleContact returns the ID of the location's example contact: its
// oldest, which the seed data gives at least one task, note and
// appointment, so that a snapshot of it shows every part. Start-up banners
// and GraphiQL's examples point new users at it. It returns "" for an
// unknown location or one without contacts.
func (s *Server) ExampleContact(locationID string) string {
	ids := s.store.contactIDs(locationID)
	if len(ids) == 0 {
		return ""
	}
	return ids[0]
}
