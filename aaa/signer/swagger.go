package signer

import (
	_ "embed" // the OpenAPI document
	"net/http"
)

// SwaggerPath serves the API's OpenAPI (Swagger 2.0) document, as aaasvc
// does.
const SwaggerPath = "/swagger.json"

//go:embed swagger.json
var swaggerJSON []byte

func handleSwagger(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeJSON(w, http.StatusMethodNotAllowed, apiError{http.StatusMethodNotAllowed,
			"method " + r.Method + " is not allowed, but [GET] are"})
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(swaggerJSON)
}
