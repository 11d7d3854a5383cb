"""The gateway's one storage layer. Import from here; every `_` module is private.

`async_redis_storage` and `redis_storage` are deprecated shims kept for old call sites.
"""

from ._authorization_models import (
    AuthorizationAsk,
    AuthorizationCode,
    AuthorizationRequest,
    valid_code_challenge,
)
from ._certificate_models import AcmeAccount, Certificate, CertificateStatus
from ._certificates import CertificateDomainConflictError
from ._config import redact_url
from ._config_changes import ConfigChange
from ._defaults import API_URL, AUTH_EXCLUDED_PATHS, LOCALHOST, DefaultsReport
from ._device import DeviceAuthorization, DeviceGrantError, shown_user_code
from ._docker_services import (
    DockerDesiredState,
    DockerService,
    DockerServiceExistsError,
    PortMapping,
    validate_docker_image,
    validate_docker_service_name,
)
from ._errors import (
    CorruptRecordError,
    InvalidKeyError,
    NoFreePortError,
    StorageAlreadyCreatedError,
    StorageClosedError,
    StorageConfigurationError,
    StorageError,
    StorageInstanceError,
    StorageUnavailableError,
    SyncCallInAsyncContextError,
)
from ._mcp_models import McpClientInfo, McpEvent, McpSession
from ._models import ProxyTarget, Route, RouteMode, RouteTargetType
from ._oauth_models import (
    AccessTokenRecord,
    AttemptCount,
    InvalidGrantError,
    InvalidScopeError,
    IssuedTokens,
    OAuthClient,
    OAuthGrantType,
    RefreshTokenRecord,
    RegisteredClient,
    TokenCounts,
    TokenEndpointAuthMethod,
    TokenRecord,
    UnknownOAuthClientError,
)
from ._registry import (
    StorageInstanceInfo,
    assert_single_instance,
    isolated_storage_registry,
    live_instance,
)
from ._routes import RouteListing
from ._user_models import MAX_PASSWORD_LENGTH, SignInFailures, User, UserExistsError
from .unified_storage import UnifiedStorage

__all__ = [
    "API_URL",
    "AUTH_EXCLUDED_PATHS",
    "LOCALHOST",
    "MAX_PASSWORD_LENGTH",
    "AccessTokenRecord",
    "AcmeAccount",
    "AttemptCount",
    "AuthorizationAsk",
    "AuthorizationCode",
    "AuthorizationRequest",
    "Certificate",
    "CertificateDomainConflictError",
    "CertificateStatus",
    "ConfigChange",
    "CorruptRecordError",
    "DefaultsReport",
    "DeviceAuthorization",
    "DeviceGrantError",
    "DockerDesiredState",
    "DockerService",
    "DockerServiceExistsError",
    "InvalidGrantError",
    "InvalidKeyError",
    "InvalidScopeError",
    "IssuedTokens",
    "McpClientInfo",
    "McpEvent",
    "McpSession",
    "NoFreePortError",
    "OAuthClient",
    "OAuthGrantType",
    "PortMapping",
    "ProxyTarget",
    "RefreshTokenRecord",
    "RegisteredClient",
    "Route",
    "RouteListing",
    "RouteMode",
    "RouteTargetType",
    "SignInFailures",
    "StorageAlreadyCreatedError",
    "StorageClosedError",
    "StorageConfigurationError",
    "StorageError",
    "StorageInstanceError",
    "StorageInstanceInfo",
    "StorageUnavailableError",
    "SyncCallInAsyncContextError",
    "TokenCounts",
    "TokenEndpointAuthMethod",
    "TokenRecord",
    "UnifiedStorage",
    "UnknownOAuthClientError",
    "User",
    "UserExistsError",
    "assert_single_instance",
    "isolated_storage_registry",
    "live_instance",
    "redact_url",
    "shown_user_code",
    "valid_code_challenge",
    "validate_docker_image",
    "validate_docker_service_name",
]
