package scimserver

// Subscribers is how many consoles follow the server now (each SSH session has one, the
// local console another), so that a console that closed can be seen to have let go.
func (s *Server) Subscribers() int { return s.nudges.Len() }
