module github.com/cachekit-go/cachekit/backend/dynamodb

// The DynamoDB backend is its own module so that aws-sdk-go-v2 never enters
// the root module's go.mod: only programs that import this package download it.

// The go directive supports the two newest Go releases (1.25 and 1.26).
// aws-sdk-go-v2 v1.48.0, service/dynamodb v1.73.2 and smithy-go v1.28.9 (and
// the SDK's internal modules they pull in) all declare go 1.24, so they build
// with Go 1.25; check https://proxy.golang.org/<module>/@v/<version>.mod before
// raising them.
go 1.25.0

require (
	github.com/aws/aws-sdk-go-v2 v1.48.0
	github.com/aws/aws-sdk-go-v2/service/dynamodb v1.73.2
	github.com/aws/smithy-go v1.28.9
	// The root module at a commit on main (a pseudo-version until the first
	// tag): the oldest whose backend contract and conformance suite this
	// module builds and passes with. In this repository go.work builds it
	// against the working tree instead; docs/releasing.md says when to raise it.
	github.com/cachekit-go/cachekit v0.0.0-20261204205810-154e20537095
)

require (
	github.com/aws/aws-sdk-go-v2/internal/configsources v1.5.11 // indirect
	github.com/aws/aws-sdk-go-v2/internal/endpoints/v2 v2.8.11 // indirect
	github.com/aws/aws-sdk-go-v2/service/internal/accept-encoding v1.13.24 // indirect
	github.com/aws/aws-sdk-go-v2/service/internal/endpoint-discovery v1.13.11 // indirect
)
