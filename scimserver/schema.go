package scimserver

import "strings"

// Schema URNs of RFC 7643 and RFC 7644.
const (
	URNUser         = "urn:ietf:params:scim:schemas:core:2.0:User"
	URNGroup        = "urn:ietf:params:scim:schemas:core:2.0:Group"
	URNEnterprise   = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
	URNListResponse = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
	URNPatchOp      = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
	URNSearch       = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
	URNError        = "urn:ietf:params:scim:api:messages:2.0:Error"
	URNSPConfig     = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"
	URNResourceType = "urn:ietf:params:scim:schemas:core:2.0:ResourceType"
	URNSchema       = "urn:ietf:params:scim:schemas:core:2.0:Schema"
)

// Attribute types of RFC 7643 §2.3.
const (
	typeString    = "string"
	typeBoolean   = "boolean"
	typeComplex   = "complex"
	typeDateTime  = "dateTime"
	typeReference = "reference"
	typeInteger   = "integer"
	typeDecimal   = "decimal"
)

// attr describes one attribute: enough to normalise what clients send and to publish the
// /Schemas documents, which must say exactly what the server does.
type attr struct {
	Name        string
	Type        string
	Multi       bool
	Required    bool
	CaseExact   bool
	Mutability  string // readOnly, readWrite, immutable, writeOnly
	Returned    string // always, never, default, request
	Uniqueness  string // none, server, global
	Description string
	Canonical   []string
	RefTypes    []string
	Sub         []*attr
}

// schema is one SCIM schema (core or extension) and its attributes.
type schema struct {
	ID          string
	Name        string
	Description string
	Attrs       []*attr
	byName      map[string]*attr
}

func newSchema(id, name, desc string, attrs ...*attr) *schema {
	s := &schema{ID: id, Name: name, Description: desc, Attrs: attrs, byName: map[string]*attr{}}
	for _, a := range attrs {
		s.byName[strings.ToLower(a.Name)] = a
	}
	return s
}

func (s *schema) attr(name string) *attr { return s.byName[strings.ToLower(name)] }

func (a *attr) sub(name string) *attr {
	for _, s := range a.Sub {
		if strings.EqualFold(s.Name, name) {
			return s
		}
	}
	return nil
}

func str(name, desc string) *attr {
	return &attr{Name: name, Type: typeString, Mutability: "readWrite", Returned: "default", Uniqueness: "none", Description: desc}
}

func (a *attr) required() *attr  { a.Required = true; return a }
func (a *attr) exact() *attr     { a.CaseExact = true; return a }
func (a *attr) readOnly() *attr  { a.Mutability = "readOnly"; return a }
func (a *attr) writeOnly() *attr { a.Mutability = "writeOnly"; a.Returned = "never"; return a }
func (a *attr) unique() *attr    { a.Uniqueness = "server"; return a }
func (a *attr) typ(t string) *attr {
	a.Type = t
	return a
}
func (a *attr) multi() *attr { a.Multi = true; return a }
func (a *attr) canonical(v ...string) *attr {
	a.Canonical = v
	return a
}
func (a *attr) refs(v ...string) *attr {
	a.RefTypes = v
	return a
}

func complexAttr(name, desc string, sub ...*attr) *attr {
	a := str(name, desc)
	a.Type = typeComplex
	a.Sub = sub
	return a
}

// multiValued builds the usual value/display/type/primary shape of RFC 7643 §2.4.
func multiValued(name, desc string, types ...string) *attr {
	return complexAttr(name, desc,
		str("value", "The value."),
		str("display", "A human-readable name, primarily used for display purposes."),
		str("type", "A label indicating the attribute's function.").canonical(types...),
		str("primary", "Whether this is the primary value.").typ(typeBoolean),
	).multi()
}

var userSchema = newSchema(URNUser, "User", "User Account",
	str("userName", "Unique identifier for the User, used to sign in. Case-insensitive.").required().unique(),
	complexAttr("name", "The components of the user's real name.",
		str("formatted", "The full name."),
		str("familyName", "The family name."),
		str("givenName", "The given name."),
		str("middleName", "The middle name(s)."),
		str("honorificPrefix", "The honorific prefix(es)."),
		str("honorificSuffix", "The honorific suffix(es)."),
	),
	str("displayName", "The name of the User, suitable for display."),
	str("nickName", "The casual way to address the user."),
	str("profileUrl", "A URI to the user's online profile.").typ(typeReference).refs("external"),
	str("title", "The user's title."),
	str("userType", "The relationship between the organization and the user."),
	str("preferredLanguage", "The user's preferred written or spoken language."),
	str("locale", "The user's default location."),
	str("timezone", "The user's time zone in the Olson format."),
	str("active", "The user's administrative status.").typ(typeBoolean),
	str("password", "Accepted and never stored: keys are the user's own business.").writeOnly(),
	multiValued("emails", "Email addresses for the user.", "work", "home", "other"),
	multiValued("phoneNumbers", "Phone numbers for the user.", "work", "home", "mobile", "fax", "pager", "other"),
	multiValued("ims", "Instant messaging addresses for the user."),
	multiValued("photos", "URLs of photos of the user.", "photo", "thumbnail"),
	complexAttr("addresses", "A physical mailing address for this user.",
		str("formatted", "The full mailing address."),
		str("streetAddress", "The full street address component."),
		str("locality", "The city or locality component."),
		str("region", "The state or region component."),
		str("postalCode", "The zip code or postal code component."),
		str("country", "The country name component."),
		str("type", "A label indicating the attribute's function.").canonical("work", "home", "other"),
		str("primary", "Whether this is the primary address.").typ(typeBoolean),
	).multi(),
	complexAttr("groups", "The groups the user belongs to. Read only: change group membership on the Group.",
		str("value", "The id of the group.").readOnly(),
		str("$ref", "The URI of the group.").typ(typeReference).refs("Group").readOnly(),
		str("display", "The displayName of the group.").readOnly(),
		str("type", "direct").readOnly().canonical("direct"),
	).multi().readOnly(),
	multiValued("entitlements", "Entitlements of the user."),
	multiValued("roles", "Roles of the user."),
)

var enterpriseSchema = newSchema(URNEnterprise, "EnterpriseUser", "Enterprise User",
	str("employeeNumber", "A string identifier, typically numeric or alphanumeric, assigned to a person."),
	str("costCenter", "Identifies the name of a cost center."),
	str("organization", "Identifies the name of an organization."),
	str("division", "Identifies the name of a division."),
	str("department", "Identifies the name of a department."),
	complexAttr("manager", "The user's manager. Accepted as an object or as a bare id string.",
		str("value", "The id of the manager's User."),
		str("$ref", "The URI of the manager's User.").typ(typeReference).refs("User"),
		str("displayName", "The displayName of the manager.").readOnly(),
	),
)

var groupSchema = newSchema(URNGroup, "Group", "Group",
	str("displayName", "A human-readable name for the Group. Unique, case-insensitive.").required().unique(),
	complexAttr("members", "A list of members of the Group (users).",
		str("value", "The id of the member's User.").typ(typeString).exact(),
		str("$ref", "The URI of the member.").typ(typeReference).refs("User"),
		str("display", "The displayName of the member.").readOnly(),
		str("type", "The type of the member.").canonical("User"),
	).multi(),
)
