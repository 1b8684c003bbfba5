package dynamodb

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/cachekit-go/cachekit/backend"
)

// authErrorCodes are the DynamoDB/AWS error codes meaning the credentials are
// missing, wrong, expired or lack permission.
var authErrorCodes = map[string]bool{
	"AccessDeniedException":               true,
	"UnrecognizedClientException":         true,
	"InvalidSignatureException":           true,
	"SignatureDoesNotMatch":               true,
	"IncompleteSignature":                 true,
	"IncompleteSignatureException":        true,
	"MissingAuthenticationToken":          true,
	"MissingAuthenticationTokenException": true,
	"InvalidClientTokenId":                true,
	"ExpiredTokenException":               true,
	"ExpiredToken":                        true,
	"NotAuthorized":                       true,
}

// transientErrorCodes are error codes worth retrying besides the SDK's
// throttling codes.
var transientErrorCodes = map[string]bool{
	"InternalServerError":              true,
	"InternalFailure":                  true,
	"ServiceUnavailable":               true,
	"TransactionConflictException":     true,
	"ReplicatedWriteConflictException": true,
}

// permanentErrorCodes fail again when retried unchanged.
var permanentErrorCodes = map[string]bool{
	"ValidationException":                      true,
	"ResourceNotFoundException":                true,
	"ItemCollectionSizeLimitExceededException": true,
	"SerializationException":                   true,
	"UnknownOperationException":                true,
	"ResourceInUseException":                   true,
}

// classify returns the backend.Kind for an error returned by the AWS SDK.
func classify(err error) backend.Kind {
	if errors.Is(err, context.DeadlineExceeded) {
		return backend.Timeout
	}
	if errors.Is(err, context.Canceled) {
		return backend.Unknown
	}
	var signing *v4.SigningError
	var creds *credentialsError
	if errors.As(err, &signing) || errors.As(err, &creds) {
		// Credentials could not be retrieved or the request not signed.
		return backend.Authentication
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		code := api.ErrorCode()
		switch {
		case authErrorCodes[code]:
			return backend.Authentication
		case isThrottle(code), transientErrorCodes[code], isRetryableCode(code):
			return backend.Transient
		case permanentErrorCodes[code]:
			return backend.Permanent
		}
	}
	var quota ratelimit.QuotaExceededError
	if errors.As(err, &quota) {
		return backend.Transient
	}
	var resp *smithyhttp.ResponseError
	if errors.As(err, &resp) {
		switch s := resp.HTTPStatusCode(); {
		case s == 401 || s == 403:
			return backend.Authentication
		case s == 429 || s >= 500:
			return backend.Transient
		case s >= 400:
			return backend.Permanent
		}
	}
	if errors.As(err, &api) && api.ErrorFault() == smithy.FaultServer {
		return backend.Transient
	}
	return backend.Classify(err)
}

func isThrottle(code string) bool {
	_, ok := retry.DefaultThrottleErrorCodes[code]
	return ok
}

func isRetryableCode(code string) bool {
	_, ok := retry.DefaultRetryableErrorCodes[code]
	return ok
}

// authError replaces the text of an authentication failure: AWS messages for
// signature failures can echo the canonical request, which is no business of
// a log line. The original error stays reachable through Unwrap.
type authError struct {
	code string
	err  error
}

func (e *authError) Error() string {
	if e.code == "" {
		return "credentials missing or rejected"
	}
	return "credentials rejected (" + e.code + ")"
}

func (e *authError) Unwrap() error { return e.err }

// wrapErr turns an SDK error into a *backend.Error for op on key. A nil error
// stays nil.
func wrapErr(op, key string, err error) error {
	if err == nil {
		return nil
	}
	kind := classify(err)
	if kind == backend.Authentication {
		code := ""
		var api smithy.APIError
		if errors.As(err, &api) {
			code = api.ErrorCode()
		}
		err = &authError{code: code, err: err}
	}
	return backend.NewError(kind, Name, op, key, err)
}

// permanent builds a Permanent *backend.Error for a request refused before it
// was sent.
func permanent(op, key string, err error, format string, args ...any) error {
	if format != "" {
		err = fmt.Errorf("%w: "+format, append([]any{err}, args...)...)
	}
	return backend.NewError(backend.Permanent, Name, op, key, err)
}

// isConditionFailed reports whether err is DynamoDB's answer to a conditional
// write whose condition did not hold.
func isConditionFailed(err error) bool {
	var ccf *types.ConditionalCheckFailedException
	return errors.As(err, &ccf)
}

// credentialsError marks a failure of the client's credentials provider, which
// the SDK reports only as formatted text. Its message hides the provider's
// own, which may name files, profiles or key ids; Unwrap still reaches it.
type credentialsError struct{ err error }

func (e *credentialsError) Error() string { return "credentials provider failed" }

func (e *credentialsError) Unwrap() error { return e.err }

// taggedCredentials wraps the client's credentials provider for one call so
// that its failures are recognisable (as *credentialsError) without matching
// strings. Caching stays with the wrapped provider.
type taggedCredentials struct{ inner aws.CredentialsProvider }

func (p taggedCredentials) Retrieve(ctx context.Context) (aws.Credentials, error) {
	c, err := p.inner.Retrieve(ctx)
	if err != nil {
		return c, &credentialsError{err: err}
	}
	return c, nil
}

// IsCredentialsProvider lets the SDK see through the wrapper (it checks for
// anonymous credentials this way).
func (p taggedCredentials) IsCredentialsProvider(target aws.CredentialsProvider) bool {
	return aws.IsCredentialsProvider(p.inner, target)
}

// ProviderSources keeps the SDK's user-agent metrics about credential sources.
func (p taggedCredentials) ProviderSources() []aws.CredentialSource {
	if s, ok := p.inner.(aws.CredentialProviderSource); ok {
		return s.ProviderSources()
	}
	return nil
}

// tagCredentials is the per-call option that installs taggedCredentials.
func tagCredentials(o *ddb.Options) {
	if o.Credentials != nil {
		o.Credentials = taggedCredentials{inner: o.Credentials}
	}
}
