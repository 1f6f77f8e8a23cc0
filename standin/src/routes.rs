//! The wire contract of the stand-in: every AWS operation it serves ([`ROUTES`]) and every error
//! code it can emit ([`ERRORS`], [`COMMON_ERRORS`]). The `botocore_routes` test checks these
//! tables against botocore's JSON models, which generate the Rust SDK too, so a typo here would
//! be a wire incompatibility the SDK tests could not explain.

/// One operation served by the stand-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    /// botocore service name: `"imagebuilder"` or `"ram"`.
    pub service: &'static str,
    /// botocore operation name, also the name used by [`crate::StandIn::fault`].
    pub op: &'static str,
    pub method: &'static str,
    /// As in the model's `requestUri`; a `{label}` segment is a member taken from the path.
    pub path: &'static str,
    /// Input members the stand-in reads from the query string. The dispatcher copies exactly
    /// these into the operation's input; a route with query members takes no body (true of
    /// every operation served), the others take all their members from the JSON body.
    pub query: &'static [&'static str],
    /// Error codes the modeled behaviour of this operation can return (faults and the
    /// authorization check come on top).
    pub errors: &'static [&'static str],
}

const IB: &str = "imagebuilder";
const RAM: &str = "ram";

/// Everything served, besides `PUT /cfn-response/...`.
pub const ROUTES: &[Route] = &[
    Route {
        service: IB,
        op: "GetImageRecipePolicy",
        method: "GET",
        path: "/GetImageRecipePolicy",
        query: &["imageRecipeArn"],
        errors: &["InvalidRequestException", "ResourceNotFoundException"],
    },
    Route {
        service: IB,
        op: "PutImageRecipePolicy",
        method: "PUT",
        path: "/PutImageRecipePolicy",
        query: &[],
        errors: &[
            "InvalidRequestException",
            "InvalidParameterValueException",
            "ResourceNotFoundException",
        ],
    },
    Route {
        service: IB,
        op: "GetImageRecipe",
        method: "GET",
        path: "/GetImageRecipe",
        query: &["imageRecipeArn"],
        errors: &["InvalidRequestException", "ResourceNotFoundException"],
    },
    Route {
        service: IB,
        op: "ListImageRecipes",
        method: "POST",
        path: "/ListImageRecipes",
        query: &[],
        errors: &["InvalidRequestException", "InvalidPaginationTokenException"],
    },
    Route {
        service: IB,
        op: "TagResource",
        method: "POST",
        path: "/tags/{resourceArn}",
        query: &[],
        errors: &["InvalidParameterException", "ResourceNotFoundException"],
    },
    Route {
        service: IB,
        op: "ListTagsForResource",
        method: "GET",
        path: "/tags/{resourceArn}",
        query: &[],
        errors: &["ResourceNotFoundException"],
    },
    Route {
        service: IB,
        op: "DeleteImageRecipe",
        method: "DELETE",
        path: "/DeleteImageRecipe",
        query: &["imageRecipeArn"],
        errors: &[
            "InvalidRequestException",
            "ResourceDependencyException",
            "ResourceNotFoundException",
        ],
    },
    Route {
        service: IB,
        op: "GetContainerRecipePolicy",
        method: "GET",
        path: "/GetContainerRecipePolicy",
        query: &["containerRecipeArn"],
        errors: &["InvalidRequestException", "ResourceNotFoundException"],
    },
    Route {
        service: IB,
        op: "PutContainerRecipePolicy",
        method: "PUT",
        path: "/PutContainerRecipePolicy",
        query: &[],
        errors: &[
            "InvalidRequestException",
            "InvalidParameterValueException",
            "ResourceNotFoundException",
        ],
    },
    Route {
        service: IB,
        op: "GetContainerRecipe",
        method: "GET",
        path: "/GetContainerRecipe",
        query: &["containerRecipeArn"],
        errors: &["InvalidRequestException", "ResourceNotFoundException"],
    },
    Route {
        service: IB,
        op: "ListContainerRecipes",
        method: "POST",
        path: "/ListContainerRecipes",
        query: &[],
        errors: &["InvalidRequestException", "InvalidPaginationTokenException"],
    },
    Route {
        service: IB,
        op: "DeleteContainerRecipe",
        method: "DELETE",
        path: "/DeleteContainerRecipe",
        query: &["containerRecipeArn"],
        errors: &[
            "InvalidRequestException",
            "ResourceDependencyException",
            "ResourceNotFoundException",
        ],
    },
    Route {
        service: IB,
        op: "GetComponentPolicy",
        method: "GET",
        path: "/GetComponentPolicy",
        query: &["componentArn"],
        errors: &["InvalidRequestException", "ResourceNotFoundException"],
    },
    Route {
        service: IB,
        op: "PutComponentPolicy",
        method: "PUT",
        path: "/PutComponentPolicy",
        query: &[],
        errors: &[
            "InvalidRequestException",
            "InvalidParameterValueException",
            "ResourceNotFoundException",
        ],
    },
    Route {
        service: IB,
        op: "GetComponent",
        method: "GET",
        path: "/GetComponent",
        query: &["componentBuildVersionArn"],
        errors: &["InvalidRequestException", "ResourceNotFoundException"],
    },
    Route {
        service: IB,
        op: "ListComponents",
        method: "POST",
        path: "/ListComponents",
        query: &[],
        errors: &["InvalidRequestException", "InvalidPaginationTokenException"],
    },
    Route {
        service: IB,
        op: "ListComponentBuildVersions",
        method: "POST",
        path: "/ListComponentBuildVersions",
        query: &[],
        errors: &["InvalidRequestException", "InvalidPaginationTokenException"],
    },
    Route {
        service: IB,
        op: "DeleteComponent",
        method: "DELETE",
        path: "/DeleteComponent",
        query: &["componentBuildVersionArn"],
        errors: &[
            "InvalidRequestException",
            "ResourceDependencyException",
            "ResourceNotFoundException",
        ],
    },
    Route {
        service: IB,
        op: "GetImagePolicy",
        method: "GET",
        path: "/GetImagePolicy",
        query: &["imageArn"],
        errors: &["InvalidRequestException", "ResourceNotFoundException"],
    },
    Route {
        service: IB,
        op: "PutImagePolicy",
        method: "PUT",
        path: "/PutImagePolicy",
        query: &[],
        errors: &[
            "InvalidRequestException",
            "InvalidParameterValueException",
            "ResourceNotFoundException",
        ],
    },
    Route {
        service: IB,
        op: "GetImage",
        method: "GET",
        path: "/GetImage",
        query: &["imageBuildVersionArn"],
        errors: &["InvalidRequestException", "ResourceNotFoundException"],
    },
    Route {
        service: IB,
        op: "ListImages",
        method: "POST",
        path: "/ListImages",
        query: &[],
        errors: &["InvalidRequestException", "InvalidPaginationTokenException"],
    },
    Route {
        service: IB,
        op: "ListImageBuildVersions",
        method: "POST",
        path: "/ListImageBuildVersions",
        query: &[],
        errors: &["InvalidRequestException", "InvalidPaginationTokenException"],
    },
    Route {
        service: IB,
        op: "DeleteImage",
        method: "DELETE",
        path: "/DeleteImage",
        query: &["imageBuildVersionArn"],
        errors: &[
            "InvalidRequestException",
            "ResourceDependencyException",
            "ResourceNotFoundException",
        ],
    },
    Route {
        service: RAM,
        op: "TagResource",
        method: "POST",
        path: "/tagresource",
        query: &[],
        errors: &[
            "MissingRequiredParameterException",
            "InvalidParameterException",
            "MalformedArnException",
            "UnknownResourceException",
            "TagLimitExceededException",
        ],
    },
    Route {
        service: RAM,
        op: "ListResources",
        method: "POST",
        path: "/listresources",
        query: &[],
        errors: &[
            "MissingRequiredParameterException",
            "InvalidParameterException",
            "InvalidResourceTypeException",
            "MalformedArnException",
            "InvalidNextTokenException",
        ],
    },
    Route {
        service: RAM,
        op: "GetResourceShares",
        method: "POST",
        path: "/getresourceshares",
        query: &[],
        errors: &[
            "MissingRequiredParameterException",
            "InvalidParameterException",
            "MalformedArnException",
            "InvalidNextTokenException",
        ],
    },
    Route {
        service: RAM,
        op: "ListResourceSharePermissions",
        method: "POST",
        path: "/listresourcesharepermissions",
        query: &[],
        errors: &[
            "MissingRequiredParameterException",
            "InvalidParameterException",
            "MalformedArnException",
            "UnknownResourceException",
            "InvalidNextTokenException",
        ],
    },
    Route {
        service: RAM,
        op: "PromotePermissionCreatedFromPolicy",
        method: "POST",
        path: "/promotepermissioncreatedfrompolicy",
        query: &[],
        errors: &[
            "MissingRequiredParameterException",
            "InvalidParameterException",
            "MalformedArnException",
            "UnknownResourceException",
            "OperationNotPermittedException",
            "IdempotentParameterMismatchException",
        ],
    },
    Route {
        service: RAM,
        op: "ListPermissions",
        method: "POST",
        path: "/listpermissions",
        query: &[],
        errors: &["InvalidParameterException", "InvalidNextTokenException"],
    },
    Route {
        service: RAM,
        op: "GetResourceShareAssociations",
        method: "POST",
        path: "/getresourceshareassociations",
        query: &[],
        errors: &[
            "MissingRequiredParameterException",
            "InvalidParameterException",
            "MalformedArnException",
            "InvalidNextTokenException",
        ],
    },
    Route {
        service: RAM,
        op: "AssociateResourceShare",
        method: "POST",
        path: "/associateresourceshare",
        query: &[],
        errors: &[
            "MissingRequiredParameterException",
            "InvalidParameterException",
            "MalformedArnException",
            "UnknownResourceException",
            "OperationNotPermittedException",
            "IdempotentParameterMismatchException",
        ],
    },
    Route {
        service: RAM,
        op: "DisassociateResourceShare",
        method: "POST",
        path: "/disassociateresourceshare",
        query: &[],
        errors: &[
            "MissingRequiredParameterException",
            "InvalidParameterException",
            "MalformedArnException",
            "UnknownResourceException",
            "OperationNotPermittedException",
            "IdempotentParameterMismatchException",
        ],
    },
    Route {
        service: RAM,
        op: "PromoteResourceShareCreatedFromPolicy",
        method: "POST",
        path: "/promoteresourcesharecreatedfrompolicy",
        query: &["resourceShareArn"],
        errors: &[
            "MissingRequiredParameterException",
            "MalformedArnException",
            "UnknownResourceException",
            "InvalidStateTransitionException",
            "UnmatchedPolicyPermissionException",
        ],
    },
    Route {
        service: RAM,
        op: "DeleteResourceShare",
        method: "DELETE",
        path: "/deleteresourceshare",
        query: &["resourceShareArn", "clientToken"],
        errors: &[
            "MissingRequiredParameterException",
            "MalformedArnException",
            "UnknownResourceException",
            "OperationNotPermittedException",
        ],
    },
];

/// Every error code the stand-in emits per service, with its HTTP status. Each one is an error
/// shape of that service's botocore model with the same `httpStatusCode` (checked by the
/// `botocore_routes` test). Arbitrary codes injected with [`crate::Fault::Error`] are not listed.
pub const ERRORS: &[(&str, &str, u16)] = &[
    // Image Builder
    (IB, "ServiceException", 500),
    (IB, "ServiceUnavailableException", 503),
    (IB, "CallRateLimitExceededException", 429),
    (IB, "ForbiddenException", 403),
    (IB, "InvalidRequestException", 400),
    (IB, "InvalidParameterValueException", 400),
    (IB, "ResourceNotFoundException", 404),
    (IB, "InvalidPaginationTokenException", 400),
    (IB, "InvalidParameterException", 400),
    (IB, "ResourceDependencyException", 400),
    // RAM
    (RAM, "ServerInternalException", 500),
    (RAM, "ServiceUnavailableException", 503),
    (RAM, "ThrottlingException", 429),
    (RAM, "MissingRequiredParameterException", 400),
    (RAM, "InvalidParameterException", 400),
    (RAM, "InvalidResourceTypeException", 400),
    (RAM, "MalformedArnException", 400),
    (RAM, "InvalidNextTokenException", 400),
    (RAM, "UnknownResourceException", 400),
    (RAM, "OperationNotPermittedException", 400),
    (RAM, "IdempotentParameterMismatchException", 400),
    (RAM, "InvalidStateTransitionException", 400),
    (RAM, "UnmatchedPolicyPermissionException", 400),
    (RAM, "TagLimitExceededException", 400),
];

/// Errors that are not shapes of either service model but are what AWS front ends send:
/// `UnknownOperationException` for a path/method no operation has, and
/// `MissingAuthenticationTokenException` for an unsigned RAM request (RAM models no 403 error;
/// Image Builder's unsigned requests get its modeled `ForbiddenException`).
pub const COMMON_ERRORS: &[(&str, &str, u16)] = &[
    ("*", "UnknownOperationException", 404),
    (RAM, "MissingAuthenticationTokenException", 403),
];

/// `(operation, error)` pairs the stand-in returns although the model does not list that error
/// on that operation (the model's per-operation lists are known to be incomplete). The SDK
/// surfaces them as unhandled errors whose `.code()` is still the code below.
pub const UNMODELED_ON_OP: &[(&str, &str)] = &[
    // A resource that does not exist: only Get/Put*Policy model ResourceNotFoundException.
    ("GetImageRecipe", "ResourceNotFoundException"),
    ("DeleteImageRecipe", "ResourceNotFoundException"),
    ("GetContainerRecipe", "ResourceNotFoundException"),
    ("DeleteContainerRecipe", "ResourceNotFoundException"),
    ("GetComponent", "ResourceNotFoundException"),
    ("DeleteComponent", "ResourceNotFoundException"),
    ("GetImage", "ResourceNotFoundException"),
    ("DeleteImage", "ResourceNotFoundException"),
    ("TagResource", "MissingRequiredParameterException"),
    // A missing required member: RAM's own name for it, used on every RAM operation.
    ("ListResources", "MissingRequiredParameterException"),
    ("GetResourceShares", "MissingRequiredParameterException"),
    ("ListResourceSharePermissions", "MissingRequiredParameterException"),
    ("GetResourceShareAssociations", "MissingRequiredParameterException"),
    ("AssociateResourceShare", "MissingRequiredParameterException"),
    ("DisassociateResourceShare", "MissingRequiredParameterException"),
    ("DeleteResourceShare", "MissingRequiredParameterException"),
    // clientToken reuse with different parameters, as the member's documentation promises.
    (
        "PromotePermissionCreatedFromPolicy",
        "IdempotentParameterMismatchException",
    ),
];

/// The route for a method + path, if any, with the members its `{label}` segments carry
/// (percent-decoded: the SDK encodes a `/` inside a label as `%2F`).
pub(crate) fn find_route(method: &str, path: &str) -> Option<(&'static Route, Vec<(&'static str, String)>)> {
    ROUTES.iter().filter(|r| r.method == method).find_map(|r| {
        let want: Vec<&str> = r.path.split('/').collect();
        let got: Vec<&str> = path.split('/').collect();
        if want.len() != got.len() {
            return None;
        }
        let mut labels = Vec::new();
        for (w, g) in want.iter().zip(&got) {
            match w.strip_prefix('{').and_then(|l| l.strip_suffix('}')) {
                Some(label) if !g.is_empty() => labels.push((label, crate::util::decode_path_segment(g))),
                Some(_) => return None,
                None if w == g => {}
                None => return None,
            }
        }
        Some((r, labels))
    })
}

/// HTTP status of an emitted error code; 400 for codes outside the tables (only reachable
/// through a programming error, which the unit test below would catch).
pub(crate) fn status_of(service: &str, code: &str) -> u16 {
    ERRORS
        .iter()
        .chain(COMMON_ERRORS)
        .find(|(s, c, _)| (*s == service || *s == "*") && *c == code)
        .map(|(_, _, st)| *st)
        .unwrap_or(400)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_error_is_listed_for_its_service() {
        for r in ROUTES {
            for code in r.errors {
                assert!(
                    ERRORS.iter().any(|(s, c, _)| *s == r.service && c == code),
                    "{} emits {code} missing from ERRORS",
                    r.op
                );
            }
        }
        for (op, code) in UNMODELED_ON_OP {
            // An operation name can exist in both services (TagResource): one of them emits it.
            let emitted = ROUTES.iter().filter(|r| r.op == *op).any(|r| r.errors.contains(code));
            assert!(emitted, "{op}/{code} not emitted");
        }
    }
}
