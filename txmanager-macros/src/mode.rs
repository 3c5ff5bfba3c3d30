//! `#[commit_on_success]`, `#[commit_manually]`, `#[autocommit]`: turn a
//! function whose first parameter is a transaction handle into one that
//! takes any scope and runs its body as a block in that mode.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::parse::Parser;
use syn::spanned::Spanned;
use syn::{Expr, FnArg, ImplItemFn, ReturnType, Signature, Type};

#[derive(Clone, Copy, PartialEq)]
pub(crate) enum Mode {
    Autocommit,
    CommitOnSuccess,
    CommitManually,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Autocommit => "autocommit",
            Mode::CommitOnSuccess => "commit_on_success",
            Mode::CommitManually => "commit_manually",
        }
    }
}

#[derive(Default)]
struct Options {
    begin: Option<TokenStream>,
    retry: Option<Expr>,
}

fn parse_options(mode: Mode, args: TokenStream) -> syn::Result<Options> {
    let mut options = Options::default();
    let parser = syn::meta::parser(|meta| {
        if meta.path.is_ident("begin") {
            if mode == Mode::Autocommit {
                return Err(meta.error(
                    "an autocommit block opens no transaction, so it has no BEGIN to choose",
                ));
            }
            let value: syn::Ident = meta.value()?.parse()?;
            let variant = match value.to_string().as_str() {
                "deferred" => quote!(Deferred),
                "immediate" => quote!(Immediate),
                "exclusive" => quote!(Exclusive),
                _ => {
                    return Err(syn::Error::new_spanned(
                        value,
                        "expected `deferred`, `immediate` or `exclusive`",
                    ));
                }
            };
            options.begin = Some(quote_spanned!(value.span()=> ::txmanager::BeginMode::#variant));
            Ok(())
        } else if meta.path.is_ident("retry") {
            if mode != Mode::CommitOnSuccess {
                return Err(meta.error(format!(
                    "only commit_on_success can retry: a {} block is not run again from scratch",
                    mode.name()
                )));
            }
            options.retry = Some(meta.value()?.parse()?);
            Ok(())
        } else {
            Err(meta.error(match mode {
                Mode::Autocommit => "#[autocommit] takes no options".to_owned(),
                Mode::CommitManually => {
                    "unknown option; expected `begin = deferred | immediate | exclusive`".to_owned()
                }
                Mode::CommitOnSuccess => "unknown option; expected `begin = deferred | immediate | exclusive` or `retry = <RetryPolicy>`".to_owned(),
            }))
        }
    });
    parser.parse2(args)?;
    Ok(options)
}

pub(crate) fn expand(mode: Mode, args: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let options = parse_options(mode, args)?;
    // An `impl` method and a free function parse alike as an `ImplItemFn`
    // (a free function has no `default` and the same parts).
    let mut function: ImplItemFn = syn::parse2(item)?;
    let sig = &mut function.sig;
    check_signature(mode, sig)?;

    // The handle: the first parameter that is not `self`.
    let handle_index = sig
        .inputs
        .iter()
        .position(|arg| matches!(arg, FnArg::Typed(_)))
        .expect("check_signature found a handle parameter");
    let FnArg::Typed(handle) = sig.inputs[handle_index].clone() else {
        unreachable!("position() matched a typed parameter")
    };
    let scope = format_ident!("__txmanager_scope");
    // `Transaction<'_>` runs on SQLite; `Transaction<'_, Backend>` on that backend.
    let scope_trait = match backend_of(&handle.ty) {
        Some(backend) => quote!(::txmanager::Scope<#backend>),
        None => quote!(::txmanager::Scope),
    };
    sig.inputs[handle_index] = syn::parse_quote_spanned!(handle.span()=>
        #scope: &mut impl #scope_trait
    );
    let handle_pat = &handle.pat;
    let handle_ty = &handle.ty;
    let output = match &sig.output {
        ReturnType::Type(_, ty) => ty.clone(),
        ReturnType::Default => unreachable!("check_signature found a return type"),
    };
    let block = &function.block;
    let mode_variant = match mode {
        Mode::Autocommit => quote!(Autocommit),
        Mode::CommitOnSuccess => quote!(CommitOnSuccess),
        Mode::CommitManually => quote!(CommitManually),
    };
    let begin = match &options.begin {
        Some(begin) => quote!(::core::option::Option::Some(#begin)),
        None => quote!(::core::option::Option::None),
    };
    let body = match &options.retry {
        None => quote! {
            ::txmanager::__private::run_in_mode(
                #scope,
                ::txmanager::Mode::#mode_variant,
                #begin,
                move |#handle_pat: #handle_ty| -> #output #block,
            )
        },
        Some(policy) => quote! {
            ::txmanager::__private::run_retrying(
                #scope,
                #begin,
                &(#policy),
                |#handle_pat: #handle_ty| -> #output #block,
            )
        },
    };
    function.block = syn::parse_quote!({ #body });
    Ok(quote!(#function))
}

fn check_signature(mode: Mode, sig: &Signature) -> syn::Result<()> {
    if let Some(asyncness) = &sig.asyncness {
        return Err(syn::Error::new_spanned(
            asyncness,
            format!(
                "#[{}] cannot wrap an async fn: a block holds the connection, which is synchronous",
                mode.name()
            ),
        ));
    }
    if let Some(constness) = &sig.constness {
        return Err(syn::Error::new_spanned(
            constness,
            format!("#[{}] cannot wrap a const fn", mode.name()),
        ));
    }
    let handle = sig.inputs.iter().find_map(|arg| match arg {
        FnArg::Typed(typed) => Some(typed),
        FnArg::Receiver(_) => None,
    });
    let Some(handle) = handle else {
        return Err(syn::Error::new_spanned(
            &sig.ident,
            format!(
                "#[{}] needs a first parameter `tx: &mut Transaction<'_>`: the handle the body runs its statements on",
                mode.name()
            ),
        ));
    };
    if !is_transaction_handle(&handle.ty) {
        return Err(syn::Error::new_spanned(
            &handle.ty,
            format!(
                "#[{}] needs a first parameter `tx: &mut Transaction<'_>`: the handle the body runs its statements on",
                mode.name()
            ),
        ));
    }
    match &sig.output {
        ReturnType::Type(_, ty) if returns_result(ty) => Ok(()),
        ReturnType::Type(_, ty) => Err(syn::Error::new_spanned(
            ty,
            format!(
                "#[{}] needs a function returning a Result, whose Err rolls the block back",
                mode.name()
            ),
        )),
        ReturnType::Default => Err(syn::Error::new_spanned(
            &sig.ident,
            format!(
                "#[{}] needs a function returning a Result, whose Err rolls the block back",
                mode.name()
            ),
        )),
    }
}

/// `&mut Transaction<...>`, `&mut txmanager::Transaction<...>`.
fn is_transaction_handle(ty: &Type) -> bool {
    let Type::Reference(reference) = ty else {
        return false;
    };
    if reference.mutability.is_none() {
        return false;
    }
    matches!(&*reference.elem, Type::Path(p) if p.path.segments.last().is_some_and(|s| s.ident == "Transaction"))
}

/// The backend type argument of `&mut Transaction<'_, B>`, if written.
fn backend_of(ty: &Type) -> Option<&Type> {
    let Type::Reference(reference) = ty else {
        return None;
    };
    let Type::Path(path) = &*reference.elem else {
        return None;
    };
    let syn::PathArguments::AngleBracketed(args) = &path.path.segments.last()?.arguments else {
        return None;
    };
    args.args.iter().find_map(|arg| match arg {
        syn::GenericArgument::Type(ty) => Some(ty),
        _ => None,
    })
}

/// `Result<..>`, `io::Result<..>`, `anyhow::Result<..>`: a path whose last
/// segment's name ends in `Result`.
fn returns_result(ty: &Type) -> bool {
    matches!(ty, Type::Path(p) if p.path.segments.last().is_some_and(|s| s.ident.to_string().ends_with("Result")))
}
