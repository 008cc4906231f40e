//! `#[activity::defn]`: turns a plain Rust function into a Temporal activity.
//!
//! The function stays as written (callable and testable as ordinary Rust);
//! beside it the macro puts a braced struct of the same name. A braced struct
//! lives only in the type namespace, so it does not clash with the function,
//! and `activity::export!(name)` can find the activity by the path the author
//! already knows (the pattern Rocket uses for its routes).

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as TokenStream2};
use quote::{format_ident, quote, quote_spanned};
use syn::parse::Parser;
use syn::spanned::Spanned;
use syn::{FnArg, ItemFn, LitStr, ReturnType, Type};

/// Marks a free function as an activity.
///
/// - `#[activity::defn]`: the activity type is the function's name.
/// - `#[activity::defn(name = "your_activity")]`: a custom activity type.
/// - `#[activity::defn(dynamic)]`: receives every activity type that nothing
///   else registers; takes one `Vec<activity::RawValue>` parameter.
///
/// Parameters are positional arguments of any `serde::Deserialize` type; the
/// result is any `serde::Serialize` type, or a `Result<T, E>` whose `E`
/// converts into `activity::ApplicationError`.
#[proc_macro_attribute]
pub fn defn(attr: TokenStream, item: TokenStream) -> TokenStream {
    match expand(attr.into(), item.into()) {
        Ok(tokens) => tokens.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

struct Options {
    name: Option<LitStr>,
    dynamic: bool,
}

fn parse_options(attr: TokenStream2) -> syn::Result<Options> {
    let mut options = Options { name: None, dynamic: false };
    let mut dynamic_span = None;
    let parser = syn::meta::parser(|meta| {
        if meta.path.is_ident("name") {
            options.name = Some(meta.value()?.parse()?);
            Ok(())
        } else if meta.path.is_ident("dynamic") {
            dynamic_span = Some(meta.path.span());
            options.dynamic =
                if meta.input.peek(syn::Token![=]) { meta.value()?.parse::<syn::LitBool>()?.value } else { true };
            Ok(())
        } else {
            Err(meta.error("unknown option: expected `name = \"...\"` or `dynamic`"))
        }
    });
    parser.parse2(attr)?;
    if let (Some(name), true) = (&options.name, options.dynamic) {
        return Err(syn::Error::new(
            name.span(),
            "`name` and `dynamic` cannot be set together: a dynamic activity has no name, \
             it receives every activity type that no other activity registers",
        ));
    }
    if let Some(name) = &options.name
        && name.value().is_empty()
    {
        return Err(syn::Error::new(name.span(), "an activity name cannot be empty"));
    }
    Ok(options)
}

fn expand(attr: TokenStream2, item: TokenStream2) -> syn::Result<TokenStream2> {
    let options = parse_options(attr)?;
    let function: ItemFn = syn::parse2(item)?;
    let sig = &function.sig;
    if let Some(asyncness) = &sig.asyncness {
        return Err(syn::Error::new(
            asyncness.span(),
            "async activities are not supported in Rust plugins yet: WASI 0.2 components run \
             one call at a time, so write a plain `fn` (blocking calls are fine in a plugin)",
        ));
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        return Err(syn::Error::new(sig.generics.span(), "an activity function cannot be generic"));
    }

    let mut param_types = Vec::new();
    for input in &sig.inputs {
        match input {
            FnArg::Receiver(r) => {
                return Err(syn::Error::new(r.span(), "an activity must be a free function, not a method"));
            }
            FnArg::Typed(pat) => param_types.push((*pat.ty).clone()),
        }
    }

    let ident = &sig.ident;
    let vis = &function.vis;
    let name = options.name.as_ref().map(LitStr::value).unwrap_or_else(|| ident.to_string());
    let dynamic = options.dynamic;
    let args = format_ident!("args");

    let body = if dynamic {
        if param_types.len() != 1 {
            return Err(syn::Error::new(
                sig.inputs.span(),
                "a dynamic activity takes exactly one parameter: `args: Vec<activity::RawValue>`",
            ));
        }
        let ty = &param_types[0];
        let call_result = call_output(&sig.output, quote!(#ident(::activity::__private::raw_args::<#ty>(#args))));
        quote!(#call_result)
    } else {
        let arity = param_types.len();
        let names: Vec<_> = (0..arity).map(|i| format_ident!("__arg{i}")).collect();
        let decodes = param_types.iter().zip(&names).enumerate().map(|(i, (ty, n))| {
            let type_name = type_name(ty);
            quote_spanned!(ty.span()=> let #n: #ty = __args.next::<#ty>(#i, #type_name)?;)
        });
        let call_result = call_output(&sig.output, quote!(#ident(#(#names),*)));
        quote! {
            let mut __args = ::activity::__private::Args::new(#name, #arity, #args)?;
            #(#decodes)*
            #call_result
        }
    };

    Ok(quote! {
        #function

        #[doc(hidden)]
        #[allow(non_camel_case_types)]
        #vis struct #ident {}

        impl ::activity::__private::Activity for #ident {
            const NAME: &'static str = #name;
            const DYNAMIC: bool = #dynamic;
            fn run(
                #args: ::std::vec::Vec<::activity::Payload>,
            ) -> ::std::result::Result<::activity::Payload, ::activity::ApplicationError> {
                #body
            }
        }
    })
}

/// Calls the function and encodes its result. A return type spelled
/// `Result<..>` (any path ending in `Result`) is treated as fallible.
fn call_output(output: &ReturnType, call: TokenStream2) -> TokenStream2 {
    match output {
        ReturnType::Type(_, ty) if is_result(ty) => {
            quote!(::activity::__private::fallible_output(#call))
        }
        _ => quote!(::activity::__private::output(&#call)),
    }
}

fn is_result(ty: &Type) -> bool {
    match ty {
        Type::Path(p) => p.path.segments.last().is_some_and(|s| s.ident == "Result"),
        Type::Group(g) => is_result(&g.elem),
        Type::Paren(p) => is_result(&p.elem),
        _ => false,
    }
}

fn type_name(ty: &Type) -> LitStr {
    let text = quote!(#ty).to_string().replace(' ', "");
    LitStr::new(&text, Span::call_site())
}
