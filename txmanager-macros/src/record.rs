//! `#[derive(Record)]`: parses the struct and its `#[record(...)]`
//! attributes into a [`Model`], checks it, and writes the `Record` impl.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::ext::IdentExt;
use syn::meta::ParseNestedMeta;
use syn::spanned::Spanned;
use syn::{
    Data, DeriveInput, Fields, GenericArgument, Ident, LitBool, LitStr, PathArguments, Type,
};

/// How a field's version changes; the names of `txmanager::VersionField`'s
/// constructors.
enum Kind {
    Integer,
    AutoIncrement,
    Trigger,
    /// The watched fields, as written.
    /// The watched fields; empty: every saved data field (`conditional`
    /// alone), less the struct's `ignore(...)`.
    Conditional(Vec<Ident>),
}

struct VersionSpec {
    kind: Kind,
    manual: bool,
}

#[derive(PartialEq)]
enum Role {
    Data,
    PrimaryKey,
    Version,
    ReadOnly,
    Skip,
}

struct Field {
    ident: Ident,
    ty: Type,
    column: String,
    role: Role,
    version: Option<VersionSpec>,
    /// The `primary_key` / `version` token, for errors about a second one.
    role_span: Span,
}

/// A type's `ConcurrencyMeta`: per-type settings from the struct attribute.
#[derive(Default)]
struct Settings {
    version_required: Option<LitBool>,
    check: Option<LitBool>,
    increment: Option<LitBool>,
    ignore: Vec<Ident>,
}

pub(crate) fn derive(input: DeriveInput) -> syn::Result<TokenStream> {
    let (table, settings) = struct_attributes(&input)?;
    let named = match &input.data {
        Data::Struct(data) => match &data.fields {
            Fields::Named(named) => named,
            other => {
                return Err(syn::Error::new_spanned(
                    other,
                    "#[derive(Record)] needs a struct with named fields, one per column",
                ));
            }
        },
        Data::Enum(data) => {
            return Err(syn::Error::new_spanned(
                data.enum_token,
                "#[derive(Record)] works on structs, not enums",
            ));
        }
        Data::Union(data) => {
            return Err(syn::Error::new_spanned(
                data.union_token,
                "#[derive(Record)] works on structs, not unions",
            ));
        }
    };

    let mut fields = Vec::new();
    for field in &named.named {
        fields.push(parse_field(field)?);
    }
    check(&input, &fields, &settings)?;
    Ok(expand(&input, &table, &fields, &settings))
}

fn struct_attributes(input: &DeriveInput) -> syn::Result<(String, Settings)> {
    let mut table = None;
    let mut settings = Settings::default();
    for attr in input.attrs.iter().filter(|a| a.path().is_ident("record")) {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("table") {
                let lit: LitStr = meta.value()?.parse()?;
                validate_identifier(&lit.value(), "table")
                    .map_err(|m| syn::Error::new_spanned(&lit, m))?;
                table = Some(lit.value());
            } else if meta.path.is_ident("version_required") {
                set_once(&meta, &mut settings.version_required, "version_required")?;
            } else if meta.path.is_ident("check") {
                set_once(&meta, &mut settings.check, "check")?;
            } else if meta.path.is_ident("increment") {
                set_once(&meta, &mut settings.increment, "increment")?;
            } else if meta.path.is_ident("ignore") {
                meta.parse_nested_meta(|inner| {
                    settings.ignore.push(path_ident(&inner)?);
                    Ok(())
                })?;
            } else if ["primary_key", "version", "column", "skip", "read_only"]
                .iter()
                .any(|f| meta.path.is_ident(f))
            {
                return Err(
                    meta.error("this is a field attribute: put it on the field, not on the struct")
                );
            } else {
                return Err(meta.error(
                    "unknown record attribute; expected `table = \"...\"`, \
                     `version_required = false`, `check = false`, `increment = false` \
                     or `ignore(field, ...)`",
                ));
            }
            Ok(())
        })?;
    }
    let table = table.unwrap_or_else(|| snake_case(&input.ident.unraw().to_string()));
    validate_identifier(&table, "table").map_err(|m| {
        syn::Error::new_spanned(
            &input.ident,
            format!("{m}; name the table with #[record(table = \"...\")]"),
        )
    })?;
    Ok((table, settings))
}

/// Parses `name = true|false` into `slot`, refusing a second one: two
/// values for one setting leave the reader guessing which wins.
fn set_once(meta: &ParseNestedMeta<'_>, slot: &mut Option<LitBool>, name: &str) -> syn::Result<()> {
    if slot.is_some() {
        return Err(meta.error(format!("`{name}` is set twice; keep one `{name} = ...`")));
    }
    *slot = Some(meta.value()?.parse()?);
    Ok(())
}

fn path_ident(meta: &ParseNestedMeta<'_>) -> syn::Result<Ident> {
    meta.path
        .get_ident()
        .cloned()
        .ok_or_else(|| meta.error("expected a field name"))
}

fn parse_field(field: &syn::Field) -> syn::Result<Field> {
    let ident = field
        .ident
        .clone()
        .ok_or_else(|| syn::Error::new_spanned(field, "expected a named field"))?;
    let mut parsed = Field {
        column: ident.unraw().to_string(),
        ident,
        ty: field.ty.clone(),
        role: Role::Data,
        version: None,
        role_span: field.span(),
    };
    let mut renamed: Option<LitStr> = None;
    for attr in field.attrs.iter().filter(|a| a.path().is_ident("record")) {
        attr.parse_nested_meta(|meta| {
            let role = if meta.path.is_ident("primary_key") {
                Role::PrimaryKey
            } else if meta.path.is_ident("version") {
                parsed.version = Some(parse_version(&meta)?);
                Role::Version
            } else if meta.path.is_ident("read_only") {
                Role::ReadOnly
            } else if meta.path.is_ident("skip") {
                Role::Skip
            } else if meta.path.is_ident("column") {
                let lit: LitStr = meta.value()?.parse()?;
                validate_identifier(&lit.value(), "column")
                    .map_err(|m| syn::Error::new_spanned(&lit, m))?;
                renamed = Some(lit);
                return Ok(());
            } else if meta.path.is_ident("table") {
                return Err(meta.error("`table` is a struct attribute: put it on the struct"));
            } else {
                return Err(meta.error(
                    "unknown record field attribute; expected `primary_key`, `version`, \
                     `version(kind)`, `column = \"...\"`, `read_only` or `skip`",
                ));
            };
            if parsed.role != Role::Data {
                return Err(
                    meta.error("a field has one role: primary_key, version, read_only or skip")
                );
            }
            parsed.role = role;
            parsed.role_span = meta.path.span();
            Ok(())
        })?;
    }
    if let Some(lit) = renamed {
        if parsed.role == Role::Skip {
            return Err(syn::Error::new_spanned(
                lit,
                "a skipped field has no column to rename",
            ));
        }
        parsed.column = lit.value();
    }
    Ok(parsed)
}

fn parse_version(meta: &ParseNestedMeta<'_>) -> syn::Result<VersionSpec> {
    let mut spec = VersionSpec {
        kind: Kind::Integer,
        manual: false,
    };
    if meta.input.is_empty() || meta.input.peek(syn::Token![,]) {
        return Ok(spec);
    }
    let mut kinds = 0;
    meta.parse_nested_meta(|inner| {
        let kind = if inner.path.is_ident("integer") {
            Kind::Integer
        } else if inner.path.is_ident("auto_increment") {
            Kind::AutoIncrement
        } else if inner.path.is_ident("trigger") {
            Kind::Trigger
        } else if inner.path.is_ident("conditional") {
            // `conditional` alone watches every saved data field.
            let mut watched = Vec::new();
            if !(inner.input.is_empty() || inner.input.peek(syn::Token![,])) {
                let list;
                let parens = syn::parenthesized!(list in inner.input);
                if list.is_empty() {
                    return Err(syn::Error::new(
                        parens.span.join(),
                        "conditional() watches no field, so the version would never move; \
                         name the fields, or write `conditional` alone to watch every saved field",
                    ));
                }
                let names =
                    syn::punctuated::Punctuated::<Ident, syn::Token![,]>::parse_terminated(&list)?;
                watched.extend(names);
            }
            Kind::Conditional(watched)
        } else if inner.path.is_ident("manual") {
            spec.manual = true;
            return Ok(());
        } else {
            return Err(inner.error(
                "unknown version kind; expected `integer`, `auto_increment`, `trigger`, \
                 `conditional(field, ...)`, or `manual`",
            ));
        };
        kinds += 1;
        if kinds > 1 {
            return Err(inner.error("a version field has one kind"));
        }
        spec.kind = kind;
        Ok(())
    })?;
    Ok(spec)
}

/// The checks that need every field: one primary key, at most one version,
/// the types of both, names that exist, no column twice.
fn check(input: &DeriveInput, fields: &[Field], settings: &Settings) -> syn::Result<()> {
    let mut pk: Option<&Field> = None;
    let mut version: Option<&Field> = None;
    for field in fields {
        match field.role {
            Role::PrimaryKey => {
                if pk.is_some() {
                    return Err(syn::Error::new(
                        field.role_span,
                        "a record has one primary key, and another field is already marked primary_key",
                    ));
                }
                if option_inner(&field.ty).is_none() {
                    return Err(syn::Error::new_spanned(
                        &field.ty,
                        "the primary key field must be an Option<Key>: None until the record is saved",
                    ));
                }
                pk = Some(field);
            }
            Role::Version => {
                if version.is_some() {
                    return Err(syn::Error::new(
                        field.role_span,
                        "a record has at most one version field, and another field is already marked version",
                    ));
                }
                if !option_inner(&field.ty).is_some_and(is_i64) {
                    return Err(syn::Error::new_spanned(
                        &field.ty,
                        "a version field must be an Option<i64>: None until the record is saved",
                    ));
                }
                version = Some(field);
            }
            _ => {}
        }
    }
    if pk.is_none() {
        return Err(syn::Error::new_spanned(
            &input.ident,
            "a record needs a primary key: mark one Option<...> field #[record(primary_key)]",
        ));
    }
    let data = |name: &Ident, what: &str| -> syn::Result<()> {
        match fields.iter().find(|f| f.ident == *name) {
            Some(f) if f.role == Role::Data => Ok(()),
            Some(_) => Err(syn::Error::new_spanned(
                name,
                format!(
                    "{what} must be a saved data field, not the key, the version, a read-only or a skipped field"
                ),
            )),
            None => Err(syn::Error::new_spanned(
                name,
                format!("{what} names no field of this struct"),
            )),
        }
    };
    if let Some(Kind::Conditional(watched)) =
        version.and_then(|v| v.version.as_ref()).map(|v| &v.kind)
    {
        for name in watched {
            data(name, "a conditional version's field")?;
        }
    }
    for name in &settings.ignore {
        data(name, "an ignored field")?;
    }
    let kind = version.and_then(|v| v.version.as_ref()).map(|v| &v.kind);
    if let Some(first) = settings.ignore.first() {
        match kind {
            Some(Kind::Conditional(watched)) if watched.is_empty() => {}
            Some(Kind::Conditional(_)) => {
                return Err(syn::Error::new_spanned(
                    first,
                    "ignore(...) narrows a `conditional` version that watches every field, \
                     but this one lists its fields: leave the field out of that list instead",
                ));
            }
            _ => {
                return Err(syn::Error::new_spanned(
                    first,
                    "ignore(...) names fields that never count as a change, which only a \
                     conditional version watches; use #[record(version(conditional))]",
                ));
            }
        }
    }
    // The per-type concurrency settings need a version to act on.
    let named_settings = [
        ("version_required", &settings.version_required),
        ("check", &settings.check),
        ("increment", &settings.increment),
    ];
    for (name, setting) in named_settings {
        if let (Some(lit), None) = (setting, version) {
            return Err(syn::Error::new_spanned(
                lit,
                format!(
                    "`{name}` is a setting of this type's version, but the struct has no \
                     version field; mark an Option<i64> field #[record(version)], or remove it"
                ),
            ));
        }
    }
    if let (Some(lit), Some(Kind::Trigger)) = (&settings.increment, kind)
        && !lit.value
    {
        return Err(syn::Error::new_spanned(
            lit,
            "a trigger version is moved by the database on every UPDATE, so \
             `increment = false` cannot stop it; use another version kind, or remove it",
        ));
    }
    for (i, field) in fields.iter().enumerate() {
        if field.role == Role::Skip {
            continue;
        }
        if let Some(first) = fields[..i]
            .iter()
            .find(|f| f.role != Role::Skip && f.column.eq_ignore_ascii_case(&field.column))
        {
            return Err(syn::Error::new_spanned(
                &field.ident,
                format!(
                    "column {:?} is already used by field `{}`",
                    field.column, first.ident
                ),
            ));
        }
        validate_identifier(&field.column, "column")
            .map_err(|m| syn::Error::new_spanned(&field.ident, m))?;
    }
    Ok(())
}

fn expand(input: &DeriveInput, table: &str, fields: &[Field], settings: &Settings) -> TokenStream {
    let name = &input.ident;
    let krate = quote!(::txmanager);
    let by_role = |role: Role| fields.iter().filter(move |f| f.role == role);
    let pk = by_role(Role::PrimaryKey)
        .next()
        .expect("check() found exactly one primary key");
    let version = by_role(Role::Version).next();
    let data: Vec<&Field> = by_role(Role::Data).collect();
    let read_only: Vec<&Field> = by_role(Role::ReadOnly).collect();

    let pk_ident = &pk.ident;
    let pk_column = &pk.column;
    let key_ty = option_inner(&pk.ty).expect("check() saw an Option");
    let data_columns = data.iter().map(|f| &f.column);
    let read_only_columns = read_only.iter().map(|f| &f.column);
    let column_of = |ident: &Ident| {
        fields
            .iter()
            .find(|f| f.ident == *ident)
            .map_or_else(String::new, |f| f.column.clone())
    };

    let version_expr = match version {
        None => quote!(::core::option::Option::None),
        Some(field) => {
            let spec = field.version.as_ref().expect("a version field has a spec");
            let ctor = match &spec.kind {
                Kind::Integer => quote!(integer()),
                Kind::AutoIncrement => quote!(auto_increment()),
                Kind::Trigger => quote!(trigger()),
                Kind::Conditional(watched) => {
                    let every: Vec<Ident>;
                    let watched = if watched.is_empty() {
                        every = data.iter().map(|f| f.ident.clone()).collect();
                        &every
                    } else {
                        watched
                    };
                    let columns = watched
                        .iter()
                        .filter(|w| !settings.ignore.contains(w))
                        .map(&column_of);
                    quote!(conditional(&[#(#columns),*]))
                }
            };
            let column = &field.column;
            let manual = spec.manual.then(|| quote!(.manual()));
            quote!(::core::option::Option::Some(#krate::VersionField::#ctor.column(#column) #manual))
        }
    };
    let mut settings_calls = TokenStream::new();
    if let Some(required) = &settings.version_required {
        settings_calls.extend(quote!(.version_required(#required)));
    }
    if let Some(check) = &settings.check {
        settings_calls.extend(quote!(.check(#check)));
    }
    if let Some(increment) = &settings.increment {
        settings_calls.extend(quote!(.increment(#increment)));
    }

    let (version_get, version_set) = match version {
        Some(field) => {
            let ident = &field.ident;
            (quote!(self.#ident), quote!(self.#ident = version;))
        }
        None => (
            quote!(::core::option::Option::None),
            quote!(let _ = version;),
        ),
    };

    let binds = data.iter().map(|f| {
        let ident = &f.ident;
        quote_spanned!(f.ty.span()=> values.bind(&self.#ident)?;)
    });

    // Read in the select's order (key, version, data, read-only) into locals,
    // then build the struct in any order.
    let mut reads = Vec::new();
    let mut inits = Vec::new();
    let ordered = std::iter::once(pk)
        .chain(version)
        .chain(data.iter().copied())
        .chain(read_only.iter().copied());
    for (i, field) in ordered.enumerate() {
        let local = format_ident!("__txmanager_column_{}", i);
        let ident = &field.ident;
        reads.push(quote_spanned!(field.ty.span()=> let #local = row.read()?;));
        inits.push(quote!(#ident: #local));
    }
    for field in by_role(Role::Skip) {
        let ident = &field.ident;
        let ty = &field.ty;
        inits
            .push(quote_spanned!(ty.span()=> #ident: <#ty as ::core::default::Default>::default()));
    }
    // A plain integer key compares exactly in SQL, so a row loaded by its
    // key holds the caller's key: skip its column instead of decoding it.
    // (A text key may match under a collation, `NOCASE`, without being
    // equal: read it back.)
    let backend = Ident::new("__TxmanagerBackend", Span::call_site());
    let keyed_from_row = is_integer(key_ty).then(|| {
        let key_local = format_ident!("__txmanager_column_0");
        let rest = &reads[1..];
        quote! {
            #[inline]
            fn from_row_with_key(
                pk: &Self::Key,
                row: &mut #krate::RowReader<'_, '_, #backend>,
            ) -> ::core::result::Result<Self, #krate::ValueError> {
                row.skip();
                let #key_local = ::core::option::Option::Some(*pk);
                #(#rest)*
                ::core::result::Result::Ok(Self { #(#inits),* })
            }
        }
    });

    // Generic structs: the key clones, skipped fields default.
    let mut generics = input.generics.clone();
    if !generics.params.is_empty() {
        let where_clause = generics.make_where_clause();
        where_clause
            .predicates
            .push(syn::parse_quote!(#key_ty: ::core::clone::Clone));
        for field in by_role(Role::Skip) {
            let ty = &field.ty;
            where_clause
                .predicates
                .push(syn::parse_quote!(#ty: ::core::default::Default));
        }
    }
    let (impl_generics, ty_generics, where_clause) = generics.split_for_impl();

    // `RecordValues<B>` for every backend `B` on which the key and the
    // field types convert: a type only one backend supports fails only
    // where the record is used on another.
    let mut values_generics = generics.clone();
    values_generics
        .params
        .push(syn::parse_quote!(#backend: #krate::Backend));
    {
        let where_clause = values_generics.make_where_clause();
        where_clause.predicates.push(syn::parse_quote!(
            #key_ty: #krate::SqlValue<#backend> + #krate::FromSqlValue<#backend>
        ));
        for field in fields {
            let ty = &field.ty;
            let predicate: syn::WherePredicate = match field.role {
                Role::Data => syn::parse_quote_spanned!(ty.span()=>
                    #ty: #krate::SqlValue<#backend> + #krate::FromSqlValue<#backend>
                ),
                Role::PrimaryKey | Role::Version | Role::ReadOnly => {
                    syn::parse_quote_spanned!(ty.span()=> #ty: #krate::FromSqlValue<#backend>)
                }
                Role::Skip => continue,
            };
            where_clause.predicates.push(predicate);
        }
    }
    let (values_impl_generics, _, values_where_clause) = values_generics.split_for_impl();

    quote! {
        #[automatically_derived]
        impl #impl_generics #krate::Record for #name #ty_generics #where_clause {
            type Key = #key_ty;

            fn meta() -> &'static #krate::RecordMeta {
                static META: #krate::RecordMeta = #krate::RecordMeta::new(
                    #table,
                    #pk_column,
                    &[#(#data_columns),*],
                    #version_expr,
                )
                .read_only(&[#(#read_only_columns),*])
                #settings_calls;
                &META
            }

            #[inline]
            fn primary_key(&self) -> ::core::option::Option<&Self::Key> {
                self.#pk_ident.as_ref()
            }

            #[inline]
            fn set_primary_key(&mut self, pk: ::core::option::Option<Self::Key>) {
                self.#pk_ident = pk;
            }

            #[inline]
            fn version(&self) -> ::core::option::Option<i64> {
                #version_get
            }

            #[inline]
            fn set_version(&mut self, version: ::core::option::Option<i64>) {
                #version_set
            }

        }

        #[automatically_derived]
        impl #values_impl_generics #krate::RecordValues<#backend> for #name #ty_generics
            #values_where_clause
        {
            #[inline]
            fn bind_columns(
                &self,
                values: &mut #krate::Binder<'_, '_, #backend>,
            ) -> ::core::result::Result<(), #krate::ValueError> {
                #(#binds)*
                let _ = values;
                ::core::result::Result::Ok(())
            }

            fn from_row(
                row: &mut #krate::RowReader<'_, '_, #backend>,
            ) -> ::core::result::Result<Self, #krate::ValueError> {
                #(#reads)*
                ::core::result::Result::Ok(Self { #(#inits),* })
            }

            #keyed_from_row
        }
    }
}

/// `T` for a type written `Option<T>` (also `std::option::Option<T>`).
fn option_inner(ty: &Type) -> Option<&Type> {
    let Type::Path(path) = ty else { return None };
    let last = path.path.segments.last()?;
    if last.ident != "Option" {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    match args.args.first()? {
        GenericArgument::Type(inner) if args.args.len() == 1 => Some(inner),
        _ => None,
    }
}

fn is_i64(ty: &Type) -> bool {
    matches!(ty, Type::Path(p) if p.qself.is_none() && p.path.is_ident("i64"))
}

/// Whether `ty` is written as a primitive integer type (`i64`, `u32`, …):
/// `Copy`, and equal in SQL only to itself.
fn is_integer(ty: &Type) -> bool {
    const INTEGERS: [&str; 10] = [
        "i8", "i16", "i32", "i64", "i128", "u8", "u16", "u32", "u64", "u128",
    ];
    matches!(ty, Type::Path(p) if p.qself.is_none()
        && INTEGERS.iter().any(|name| p.path.is_ident(name)))
}

/// The rule txmanager applies at run time, applied at compile time: ASCII
/// letters, digits and `_`, not starting with a digit, at most 64 bytes, not
/// `sqlite_...`. A copy of `validate_identifier` in the library's
/// `src/sqlite.rs`, since a proc-macro crate cannot call the library it
/// expands into: change both together.
fn validate_identifier(name: &str, what: &str) -> Result<(), String> {
    let refuse = |reason: &str| Err(format!("invalid {what} name {name:?}: {reason}"));
    let Some(first) = name.chars().next() else {
        return refuse("it is empty");
    };
    if name.len() > 64 {
        return refuse("it is longer than 64 bytes");
    }
    if !(first.is_ascii_alphabetic() || first == '_') {
        return refuse("it must start with an ASCII letter or '_'");
    }
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return refuse("only ASCII letters, digits and '_' are allowed");
    }
    if name.len() >= 7 && name[..7].eq_ignore_ascii_case("sqlite_") {
        return refuse("names starting with 'sqlite_' are reserved by SQLite");
    }
    Ok(())
}

/// `ConcurrentModel` → `concurrent_model`.
fn snake_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    let chars: Vec<char> = name.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if c.is_uppercase() {
            let prev_lower =
                i > 0 && (chars[i - 1].is_lowercase() || chars[i - 1].is_ascii_digit());
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
            if i > 0 && (prev_lower || (next_lower && chars[i - 1].is_uppercase())) {
                out.push('_');
            }
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snake_case_splits_words_and_acronyms() {
        assert_eq!(snake_case("ConcurrentModel"), "concurrent_model");
        assert_eq!(snake_case("Tag"), "tag");
        assert_eq!(snake_case("HTTPRequest"), "http_request");
        assert_eq!(snake_case("Model2Version"), "model2_version");
    }
}
