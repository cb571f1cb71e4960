package gdpr

import (
	"regexp"
	"strings"
)

// The patterns below run on normalised sentences: lower case, no diacritics, words
// separated by single spaces, apostrophes and hyphens turned into spaces ("droit
// d'accès" → "droit d acces", "DSGVO-konform" → "dsgvo konform").

// re compiles alternatives as whole words.
func re(alternatives ...string) *regexp.Regexp {
	return regexp.MustCompile(`\b(?:` + strings.Join(alternatives, "|") + `)\b`)
}

// Objects: the writer's own data. Each language has possessive forms, "about me"
// forms, and the legal "personal data" (weaker alone: it may be someone else's).
var (
	myData = re(
		// en
		`my (?:own |personal |private |customer |user |stored |contact |account )*(?:data|information|info|details|records|personal data)`,
		`(?:about|on|concerning|regarding|relating to) me`,
		`(?:every )?trace of me`,
		`me from (?:all )?(?:of )?your (?:systems?|databases?|records|servers|files|crm)`,
		// de
		`(?:meine|meiner|meinen|meines|meinem)(?: \w+){0,2} (?:daten|datten|angaben|informationen|eintrage|datensatze|kontaktdaten)`,
		`(?:zu|uber) (?:mir|mich|meiner person)`,
		// fr
		`(?:mes|toutes mes)(?: \w+)? (?:donnees|informations|infos|coordonnees)`,
		`(?:me concernant|sur moi|a mon sujet|a mon propos)`,
		// es
		`(?:mis|todos mis)(?: \w+)? (?:datos|informaciones)`,
		`(?:mi|toda mi) informacion`,
		`sobre mi`,
		// it
		`(?:i |tutti i )?(?:miei|mie)(?: \w+)? (?:dati|informazioni)`,
		`(?:su di me|che mi riguardano|che lo riguardano|che la riguardano)`,
	)
	personalData = re(
		`personal (?:data|information|info|details)`,
		`(?:personenbezogen|personlich)\w* (?:daten|angaben)`,
		`(?:donnees|informations) personnelles`,
		`(?:datos|informacion) personal(?:es)?`,
		`(?:dati|informazioni) personali`,
	)
	myAccount = re(
		`my (?:\w+ )?(?:account|profile)`,
		`mein\w* (?:\w+ )?(?:konto|kontos|account|accounts|profil|profils|kundenkontos?|benutzerkontos?)`,
		`mon (?:compte|profil)`,
		`mi (?:cuenta|perfil)`,
		`(?:il )?mio (?:account|profilo)`,
	)
	myIdentity = re( // what a rectification corrects
		`(?:my|mein\w*|mon|ma|mes|mi|mis|il mio|la mia|mio|mia) (?:\w+ )?(?:name|surname|address|email|e mail|date of birth|birthday|namen|adresse|anschrift|geburtsdatum|nom|coordonnees|nombre|apellidos?|direccion|dni|correo|nome|cognome|indirizzo|data di nascita)`,
	)
	myHistory = re( // what portability takes along
		`(?:my|meine\w*|mon|mes|mi|mis|il mio|lo mio|mio) (?:\w+ )?(?:history|historial|storico|historique|verlauf|conversations?|chats?)`,
		`lo storico`,
	)
	processing = re(
		`processing`, `profiling`, `(?:direct )?marketing`, `advertising`, `ad targeting`, `analytics`,
		`verarbeitung`, `nutzung`, `verwendung`, `werbung`, `werbezwecke\w*`,
		`traitement`, `prospection`, `publicite\w*`,
		`tratamiento`, `publicidad`, `fines comerciales`,
		`trattamento`, `pubblicita`,
	)
	// notObject: a word before an object that makes it a place, not the thing acted
	// on ("remove the old card from my account").
	notObject = regexp.MustCompile(`^(?:from|in|into|on|onto|with|aus|im|auf|dans|sur|en|nel|nella|sul|dal|dalla|con)$`)
)

// pairCue is an action of a right near an object; the weak object scores less.
type pairCue struct {
	typ        typ
	action     *regexp.Regexp
	object     *regexp.Regexp
	score      float64
	weakObject *regexp.Regexp
	weakScore  float64
}

var pairCues = []pairCue{
	{typ: typeErasure, action: re(
		`delete`, `deleted`, `deleting`, `deletion`, `erase`, `erased`, `erasing`, `erasure`,
		`remove`, `removed`, `removal`, `wipe`, `wiped`, `purge`, `purged`, `destroy`, `forget`,
		`losch\w*`, `loesch\w*`, `geloscht`, `geloescht`, `entfern\w*`, `vernicht\w*`,
		`supprim\w*`, `suppression`, `effac\w*`,
		`borr\w*`, `elimin\w*`, `suprim\w*`, `supresion`, `cancelacion`,
		`cancell\w*`, `rimuov\w*`, `rimozione`,
	), object: myData, score: 0.8, weakObject: orRe(myAccount, personalData), weakScore: 0.6},
	{typ: typeAccess, action: re(
		`copy`, `copies`, `access`, `disclos\w*`, `(?:what|which)(?: \w+)? (?:data|information|info|details)`, `what do you (?:have|hold|know|store)`,
		`auskunft\w*`, `kopie`, `einsicht`, `welche(?: \w+)? (?:daten|informationen|angaben)`,
		`copie`, `acces`, `quelles?(?: \w+)? (?:donnees|informations)`,
		`copia`, `acceso`, `(?:que|cuales)(?: \w+)? (?:datos|informacion)`,
		`accesso`, `conoscere`, `quali(?: \w+)? (?:dati|informazioni)`,
	), object: myData, score: 0.8, weakObject: personalData, weakScore: 0.6},
	{typ: typePortability, action: re(
		`export\w*`, `esport\w*`, `transfer\w*`, `transmit\w*`, `download`, `port`,
		`ubermitt\w*`, `ubertrag\w*`, `transmettre`, `recuperer`, `trasferire`, `llevarme`, `portare con me`,
	), object: myData, score: 0.8, weakObject: orRe(myHistory, personalData), weakScore: 0.6},
	{typ: typeRectification, action: re(
		`correct`, `correcting`, `rectify`, `amend`,
		`berichtig\w*`, `korrigier\w*`, `richtigstell\w*`,
		`rectifi\w*`, `corrig\w*`, `correg\w*`, `corrij\w*`, `rettific\w*`,
	), object: myData, score: 0.8, weakObject: myIdentity, weakScore: 0.6},
	{typ: typeObjection, action: re(
		`object`, `objecting`, `objection`, `stop (?:processing|using)`, `no longer (?:process|use)`,
		`widersprech\w*`, `widerspreche`, `widerspruch`, `nicht mehr (?:verwenden|nutzen|verarbeiten)`,
		`m oppose`, `oppose`, `opposition`, `arret\w* (?:d utiliser|de traiter|le traitement)`,
		`opongo`, `oposicion`, `dejen de (?:tratar|usar|utilizar)`,
		`oppongo`, `opposizione`, `smettete di (?:usare|utilizzare|trattare)`,
	), object: orRe(myData, processing), score: 0.8},
	{typ: typeRestriction, action: re(
		`restrict\w*`, `einschrank\w*`, `eingeschrankt`, `schranken`, `sperr\w*`,
		`limitation`, `limiter`, `limitacion`, `limitar`, `limitazione`, `limitare`,
	), object: orRe(myData, processing), score: 0.8},
}

func orRe(a, b *regexp.Regexp) *regexp.Regexp {
	return regexp.MustCompile(a.String() + "|" + b.String())
}

// strongCue names a right or a request outright. Article numbers mean a GDPR right
// only when a law is named somewhere in the message.
type strongCue struct {
	typ        typ
	re         *regexp.Regexp
	score      float64
	needsLaw   bool
	withoutLaw float64
}

func article(n string) *regexp.Regexp {
	return re(`(?:art|arts|article|artikel|articulo|articolo)s? ?` + n)
}

var strongCues = []strongCue{
	{typ: typeErasure, score: 0.9, re: re(
		`right to be forgotten`, `right to erasure`, `forget me`,
		`recht auf (?:vergessenwerden|vergessen werden|loschung)`,
		`droit a l oubli`, `droit a l effacement`,
		`derecho al olvido`, `derecho de (?:supresion|cancelacion)`,
		`diritto all oblio`, `diritto alla cancellazione`,
	)},
	{typ: typeAccess, score: 0.9, re: re(
		`subject access requests?`, `dsars?`, `specific pieces of personal information`, `right of access`, `right to access`, `right to know`,
		`auskunftsrecht`, `recht auf auskunft`, `auskunftsersuchen`, `auskunftsanfrage`, `auskunft (?:nach|gemass)`, `datenauskunft`,
		`droit d acces`, `demande d acces`,
		`derecho de acceso`, `solicitud de acceso`,
		`diritto di accesso`, `richiesta di accesso`, `istanza di accesso`,
	)},
	{typ: typePortability, score: 0.9, re: re(
		`(?:data )?portability`, `datenubertragbarkeit`, `portabilite`, `portabilidad`, `portabilita`,
	)},
	{typ: typePortability, score: 0.7, re: re(
		`machine readable`, `maschinenlesbar\w*`, `lisible par (?:une )?machine`, `lectura mecanica`,
		`leggibile da (?:un )?dispositivo automatico`, `structured(?: \w+){0,3} format`,
		`format structure`, `formato (?:estructurado|strutturato)`,
	)},
	{typ: typeRectification, score: 0.7, re: re(
		`right to rectification`, `rectification`, `berichtigung`, `droit de rectification`,
		`rectificacion`, `rettifica`,
	)},
	{typ: typeObjection, score: 0.9, re: re(
		`right to object`, `widerspruchsrecht`, `droit d opposition`, `derecho de oposicion`, `diritto di opposizione`,
	)},
	{typ: typeRestriction, score: 0.9, re: re(
		`right to restriction`, `restriction of processing`, `recht auf einschrankung`,
		`droit a la limitation`, `derecho a la limitacion`, `diritto (?:di|alla) limitazione`,
	)},
	{typ: typeAccess, re: article("15"), score: 0.9, needsLaw: true, withoutLaw: 0.45},
	{typ: typeRectification, re: article("16"), score: 0.9, needsLaw: true, withoutLaw: 0.45},
	{typ: typeErasure, re: article("17"), score: 0.9, needsLaw: true, withoutLaw: 0.45},
	{typ: typeRestriction, re: article("18"), score: 0.9, needsLaw: true, withoutLaw: 0.45},
	{typ: typePortability, re: article("20"), score: 0.9, needsLaw: true, withoutLaw: 0.45},
	{typ: typeObjection, re: article("21"), score: 0.9, needsLaw: true, withoutLaw: 0.45},
}

var (
	lawRef = re(
		`gdpr`, `uk gdpr`, `dsgvo`, `ds gvo`, `rgpd`, `ccpa`, `cpra`, `lopd\w*`, `bdsg`,
		`datenschutz ?grundverordnung`, `general data protection regulation`, `data protection act`,
		`reglement general sur la protection des donnees`, `reglamento general de proteccion de datos`,
		`regolamento (?:ue |generale )?(?:2016 679|sulla protezione dei dati)`, `2016 679`,
	)
	// requestWord, with a law named in the message, makes a request of unknown type.
	requestWord = re(
		`request`, `requesting`, `exercise`, `exercising`, `my rights`, `entitled`,
		`meine rechte`, `geltend`, `anspruch`, `anfrage`, `antrag`, `ersuchen`,
		`exercer`, `mes droits`, `demande`,
		`solicitud`, `solicito`, `tengo derecho`, `ejercer`, `ejerzo`, `ejercito`, `mis derechos`, `arco`,
		`richiesta`, `istanza`, `ho diritto`, `esercitare`, `miei diritti`,
	)
	// howTo marks a sentence asking how to use the product.
	howTo = re(
		`how (?:do|can|could|would|should) (?:i|we)`, `how to`, `is there a way`,
		`wie (?:kann|konnen|muss|mussen) (?:ich|wir|man)`, `wie \w+ (?:ich|man)`, `gibt es eine moglichkeit`,
		`comment (?:puis je|faire|exporter|supprimer|peut on|on)`,
		`como (?:puedo|podemos|exporto|elimino|borro|se)`,
		`come (?:posso|possiamo|si)`, `c e un modo`,
	)
	// infoQuestion, at the start of a sentence with a question mark, asks about the
	// product rather than for something to be done.
	infoQuestion = re(
		`does`, `do`, `is`, `are`, `will`, `would`, `has`, `did`, `was`, `were`, `if`,
		`ist`, `sind`, `wird`, `werden`, `gibt es`, `wenn`, `falls`,
		`est ce que`, `est il`, `sont`, `si`,
		`es`, `son`, `se`, `hay`,
		`e`, `sono`, `ci sono`,
	)
	penalties = []struct {
		re    *regexp.Regexp
		minus float64
	}{
		// Accidents and restores: the writer wants data back, not gone.
		{re(`by mistake`, `accidentally`, `accidently`, `by accident`, `restore`, `undo`, `undelete`,
			`aus versehen`, `versehentlich`, `wiederherstell\w*`,
			`par erreur`, `par megarde`, `restaurer`, `restaurez`,
			`por error`, `sin querer`, `por equivocacion`, `recuperar\w*`,
			`per errore`, `per sbaglio`, `ripristin\w*`, `recuperare`), 0.7},
		// Someone else's data: a business customer asking how to serve its own customers.
		{re(`one of our (?:customers|clients|users)`, `our customers?`, `a customer of ours`,
			`unser\w* kunde\w*`, `ein kunde von uns`, `einer unserer kunden`,
			`un de nos clients`, `nos clients`, `un client nous`,
			`un cliente nos`, `nuestros clientes`, `un nostro cliente`, `nostri clienti`), 0.6},
		// Compliance paperwork and questions about the company's practices.
		{re(`compliant`, `compliance`, `konform`, `conforme`, `conformite`, `cumple`, `conformita`,
			`dpa`, `avv`, `auftragsverarbeitung\w*`, `sub ?processors?`, `unterauftragsverarbeiter`,
			`sous traitants?`, `subencargados?`, `sub responsabili`,
			`privacy policy`, `datenschutzerklarung`, `politique de confidentialite`, `politica de privacidad`,
			`informativa (?:sulla )?privacy`, `hosted`, `hosting`, `heberge\w*`, `alojan`, `ospitati`, `serverstandort`,
			`how long do you`, `wie lange`, `combien de temps`, `cuanto tiempo`, `per quanto tempo`), 0.3},
		// Bug reports about the product's own delete or export.
		{re(`doesn t work`, `does not work`, `not working`, `bug`, `error`, `fehler`, `funktioniert nicht`,
			`bricht(?: \w+){0,3} ab`, `ne fonctionne pas`, `no funciona`, `non funziona`), 0.3},
	}
)

var stopwords = map[string]map[string]bool{
	"en": set("the and my you your please i to of is are for it this that with have me data what can"),
	"de": set("ich und die der das meine meiner meinen bitte sie nicht mit zu ist uber daten ein eine den von wir ihr ihre"),
	"fr": set("je et les mes des vous le la pour est merci donnees une un mon ma pas sur avez au du"),
	"es": set("el los mis por que y la datos mi para gracias quiero favor una un del las su sus es"),
	"it": set("il i miei di che per dati grazie vorrei sono non un una mio della dei del gli avete"),
}

func set(words string) map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(words) {
		m[w] = true
	}
	return m
}
